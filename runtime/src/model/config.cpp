// Hyper-parameters from `<arch>.*` metadata, with llama.cpp's defaults where a key is optional.
#include "model/config.h"

#include <isomer/error.h>

#include <fmt/ranges.h>

#include <limits>

namespace isomer {
namespace {

struct Reader {
  const gguf::File& file;
  const std::string& arch;

  std::string key(std::string_view k) const { return fmt::format("{}.{}", arch, k); }
  std::optional<int64_t> opt_int(std::string_view k, int64_t min, int64_t max) const {
    const auto v = file.get_int(key(k));
    if (v && (*v < min || *v > max))
      fail("{}: metadata {} = {} is outside [{}, {}]", file.path(), key(k), *v, min, max);
    return v;
  }
  int64_t int_(std::string_view k, int64_t min, int64_t max) const {
    const auto v = opt_int(k, min, max);
    if (!v) fail("{}: metadata key {} is missing (needed by {})", file.path(), key(k), arch);
    return *v;
  }
  float float_(std::string_view k, float fallback) const {
    return static_cast<float>(file.get_float(key(k)).value_or(fallback));
  }
};

constexpr int64_t kMaxDim = int64_t{1} << 24;  // larger than any model dimension in use

}  // namespace

ModelConfig read_config(const gguf::File& file, const std::string& arch) {
  const Reader r{file, arch};
  ModelConfig c;
  c.arch = arch;
  c.name = file.get_string("general.name").value_or("");
  c.n_layer = static_cast<int>(r.int_("block_count", 1, 4096));
  c.n_embd = r.int_("embedding_length", 1, kMaxDim);
  c.n_ff = r.int_("feed_forward_length", 1, kMaxDim);
  c.n_head = static_cast<int>(r.int_("attention.head_count", 1, 65536));
  c.n_head_kv = static_cast<int>(r.opt_int("attention.head_count_kv", 1, 65536).value_or(c.n_head));
  if (c.n_head % c.n_head_kv != 0)
    fail("{}: {} attention heads cannot share {} KV heads", file.path(), c.n_head, c.n_head_kv);
  if (c.n_embd % c.n_head != 0 && !file.has(r.key("attention.key_length")))
    fail("{}: embedding length {} is not a multiple of {} heads and no key_length is given",
         file.path(), c.n_embd, c.n_head);
  c.head_dim = static_cast<int>(r.opt_int("attention.key_length", 1, 65536)
                                    .value_or(c.n_embd / c.n_head));
  const int64_t head_dim_v = r.opt_int("attention.value_length", 1, 65536).value_or(c.head_dim);
  if (head_dim_v != c.head_dim)
    fail("{}: value head size {} differs from key head size {}, which {} models do not have",
         file.path(), head_dim_v, c.head_dim, arch);
  c.n_ctx_train = r.opt_int("context_length", 1, std::numeric_limits<int32_t>::max()).value_or(2048);
  c.norm_eps = r.float_("attention.layer_norm_rms_epsilon", 1e-5f);
  c.n_rot = static_cast<int>(r.opt_int("rope.dimension_count", 2, c.head_dim).value_or(c.head_dim));
  if (c.n_rot % 2 != 0) fail("{}: rope dimension count {} is odd", file.path(), c.n_rot);
  c.rope_freq_base = r.float_("rope.freq_base", 10000.0f);

  const std::string scaling = file.get_string(r.key("rope.scaling.type")).value_or("");
  float factor = r.float_("rope.scaling.factor", 0.0f);
  if (factor == 0.0f) factor = r.float_("rope.scale_linear", 0.0f);  // older files
  if (scaling.empty() || scaling == "none") {
    c.rope_scaling = factor > 0.0f && factor != 1.0f ? RopeScaling::Linear : RopeScaling::None;
  } else if (scaling == "linear") {
    c.rope_scaling = RopeScaling::Linear;
  } else if (scaling == "yarn") {
    c.rope_scaling = RopeScaling::Yarn;
  } else {
    fail("{}: RoPE scaling type '{}' is not supported (supported: none, linear, yarn)",
         file.path(), scaling);
  }
  if (c.rope_scaling != RopeScaling::None) {
    if (!(factor > 0.0f)) fail("{}: RoPE scaling '{}' without a positive factor", file.path(), scaling);
    c.rope_freq_scale = 1.0f / factor;
  }
  c.rope_n_ctx_orig = r.opt_int("rope.scaling.original_context_length", 1,
                                std::numeric_limits<int32_t>::max())
                          .value_or(c.n_ctx_train);
  c.yarn_beta_fast = r.float_("rope.scaling.yarn_beta_fast", 32.0f);
  c.yarn_beta_slow = r.float_("rope.scaling.yarn_beta_slow", 1.0f);

  const auto* embd = file.find_tensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2)
    fail("{}: tensor 'token_embd.weight' is missing or not 2-D", file.path());
  c.n_vocab = embd->dims[1];
  return c;
}

}  // namespace isomer
