// Synthetic GGUF files: the tensor plan and metadata of a like, the weight type of each tensor
// as llama-quantize would choose it (isomer/quantize.h, shared with `isomer quantize`), seeded
// weights generated and quantised one tensor at a time, and the cached default model.
#include <isomer/error.h>
#include <isomer/quantize.h>
#include <isomer/synth.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <system_error>
#include <thread>

#include "synth/likes.h"
#include "synth/random.h"

namespace isomer::synth {
namespace {

// What a tensor is, for its values.
enum class Role { Matrix, Norm, Bias, RopeFreqs };

struct Built {
  const Like* like = nullptr;
  Plan plan;
  std::vector<Role> roles;            // per tensor
  std::vector<int32_t> token_types;   // rows of the embedding and output matrices
};

const Like& find_like(const std::string& name) {
  for (const Like& l : like_table())
    if (l.name == name) return l;
  std::vector<std::string_view> names;
  for (const Like& l : like_table()) names.push_back(l.name);
  fail("unknown like '{}' (known: {})", name, fmt::join(names, ", "));
}

Built build(const Options& o) {
  Built b;
  const Like& like = find_like(o.like);
  b.like = &like;
  const quantize::FileType& wt =
      quantize::find_file_type(o.type.empty() ? like.default_type : std::string_view(o.type));
  if (o.n_layer < 0 || o.n_layer > like.n_layer)
    fail("like '{}' has {} layers: cannot make {}", like.name, like.n_layer, o.n_layer);
  const int n_layer = o.n_layer > 0 ? o.n_layer : like.n_layer;
  const Vocab vocab = like.spm ? build_spm_vocab(like.vocab) : build_vocab(like.vocab);
  b.token_types = vocab.types;

  auto& md = b.plan.metadata;
  auto set = [&](std::string key, gguf::Value v) { md.emplace_back(std::move(key), std::move(v)); };
  const std::string arch(like.arch);
  auto set_arch = [&](std::string_view key, gguf::Value v) {
    set(fmt::format("{}.{}", arch, key), std::move(v));
  };
  std::string name = fmt::format("{} (synthetic, seed {})", like.general_name, o.seed);
  if (n_layer != like.n_layer) name += fmt::format(", {} layers", n_layer);
  set("general.architecture", gguf::Value::string(arch));
  set("general.type", gguf::Value::string("model"));
  set("general.name", gguf::Value::string(name));
  set("general.description",
      gguf::Value::string(fmt::format("Written by isomer synth: seeded random weights in the "
                                      "shapes of {}. Its text is gibberish by design.",
                                      like.description)));
  set("general.size_label", gguf::Value::string(std::string(like.size_label)));
  set("general.alignment", gguf::Value::u32(32));
  set("general.file_type", gguf::Value::u32(wt.ftype));
  set("general.quantization_version", gguf::Value::u32(2));
  set_arch("block_count", gguf::Value::u32(static_cast<uint32_t>(n_layer)));
  set_arch("context_length", gguf::Value::u32(static_cast<uint32_t>(like.n_ctx)));
  set_arch("embedding_length", gguf::Value::u32(static_cast<uint32_t>(like.n_embd)));
  set_arch("feed_forward_length", gguf::Value::u32(static_cast<uint32_t>(like.n_ff)));
  set_arch("attention.head_count", gguf::Value::u32(static_cast<uint32_t>(like.n_head)));
  set_arch("attention.head_count_kv", gguf::Value::u32(static_cast<uint32_t>(like.n_head_kv)));
  set_arch("rope.freq_base", gguf::Value::f32(like.rope_base));
  set_arch("attention.layer_norm_rms_epsilon", gguf::Value::f32(like.norm_eps));
  if (like.head_dim_keys) {
    set_arch("attention.key_length", gguf::Value::u32(static_cast<uint32_t>(like.head_dim)));
    set_arch("attention.value_length", gguf::Value::u32(static_cast<uint32_t>(like.head_dim)));
  }
  if (like.llama_keys) {
    set_arch("vocab_size", gguf::Value::u32(static_cast<uint32_t>(like.vocab.size)));
    set_arch("rope.dimension_count", gguf::Value::u32(static_cast<uint32_t>(like.head_dim)));
  }
  set("tokenizer.ggml.model", gguf::Value::string(like.spm ? "llama" : "gpt2"));
  set("tokenizer.ggml.pre", gguf::Value::string(std::string(like.pre)));
  set("tokenizer.ggml.tokens", gguf::Value::strings(vocab.tokens));
  if (like.spm) set("tokenizer.ggml.scores", gguf::Value::f32s(vocab.scores));
  set("tokenizer.ggml.token_type", gguf::Value::i32s(vocab.types));
  if (!like.spm) set("tokenizer.ggml.merges", gguf::Value::strings(vocab.merges));
  auto set_id = [&](const char* key, int32_t id) {
    if (id >= 0) set(key, gguf::Value::u32(static_cast<uint32_t>(id)));
  };
  set_id("tokenizer.ggml.bos_token_id", like.bos);
  set_id("tokenizer.ggml.eos_token_id", like.eos);
  set_id("tokenizer.ggml.eot_token_id", like.eot);
  if (like.spm) set_id("tokenizer.ggml.unknown_token_id", 0);
  set_id("tokenizer.ggml.padding_token_id", like.pad);
  set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(like.add_bos));
  if (like.spm) set("tokenizer.ggml.add_eos_token", gguf::Value::boolean(false));
  set("tokenizer.chat_template", gguf::Value::string(std::string(like.chat_template)));

  // Tensors in the order llama.cpp's converter writes them; dims innermost first.
  const int64_t d = like.n_embd, q_width = int64_t{like.n_head} * like.head_dim;
  const int64_t kv_width = int64_t{like.n_head_kv} * like.head_dim;
  // Every tensor starts as F32 and gets the type llama-quantize would give it.
  const quantize::ModelInfo info{.n_layer = n_layer, .has_output = !like.tied};
  auto add = [&](std::string tensor, Role role, std::vector<int64_t> dims) {
    const DType type = quantize::choose(wt, tensor, dims, DType::F32, info).type;
    b.plan.tensors.push_back({std::move(tensor), type, std::move(dims)});
    b.roles.push_back(role);
  };
  if (like.llama3_rope) add("rope_freqs.weight", Role::RopeFreqs, {like.head_dim / 2});
  add("token_embd.weight", Role::Matrix, {d, like.vocab.size});
  for (int il = 0; il < n_layer; ++il) {
    const std::string p = fmt::format("blk.{}.", il);
    add(p + "attn_norm.weight", Role::Norm, {d});
    add(p + "attn_q.weight", Role::Matrix, {d, q_width});
    if (like.qkv_bias) add(p + "attn_q.bias", Role::Bias, {q_width});
    add(p + "attn_k.weight", Role::Matrix, {d, kv_width});
    if (like.qkv_bias) add(p + "attn_k.bias", Role::Bias, {kv_width});
    add(p + "attn_v.weight", Role::Matrix, {d, kv_width});
    if (like.qkv_bias) add(p + "attn_v.bias", Role::Bias, {kv_width});
    if (like.qk_norm) {
      add(p + "attn_q_norm.weight", Role::Norm, {like.head_dim});
      add(p + "attn_k_norm.weight", Role::Norm, {like.head_dim});
    }
    add(p + "attn_output.weight", Role::Matrix, {q_width, d});
    add(p + "ffn_norm.weight", Role::Norm, {d});
    add(p + "ffn_gate.weight", Role::Matrix, {d, like.n_ff});
    add(p + "ffn_up.weight", Role::Matrix, {d, like.n_ff});
    add(p + "ffn_down.weight", Role::Matrix, {like.n_ff, d});
  }
  add("output_norm.weight", Role::Norm, {d});
  if (!like.tied) add("output.weight", Role::Matrix, {d, like.vocab.size});

  for (const auto& t : b.plan.tensors) {
    int64_t n = 1;
    for (int64_t dim : t.dims) n *= dim;
    b.plan.n_params += n;
  }
  return b;
}

// Llama 3's long-context RoPE rule, as convert_hf_to_gguf.py computes rope_freqs.weight for
// Llama 3.1 / 3.2 (rope_scaling factor 32, low_freq_factor 1, high_freq_factor 4, original
// context 8192): wavelengths beyond the original context are stretched by the factor, short
// ones kept, and those in between interpolated.
std::vector<float> llama3_rope_factors(double base, int head_dim) {
  constexpr double kPi = 3.141592653589793, factor = 32, low = 1, high = 4, original = 8192;
  std::vector<float> out;
  for (int i = 0; i < head_dim; i += 2) {
    const float freq = static_cast<float>(1.0 / std::pow(base, static_cast<double>(i) / head_dim));
    const double wavelen = 2 * kPi / freq;
    if (wavelen < original / high) {
      out.push_back(1.0f);
    } else if (wavelen > original / low) {
      out.push_back(static_cast<float>(factor));
    } else {
      const double smooth = (original / wavelen - low) / (high - low);
      out.push_back(static_cast<float>(1 / ((1 - smooth) / factor + smooth)));
    }
  }
  return out;
}

// Fills `out` with tensor `index`'s values, rows split across threads: every row has its own
// random stream, so the bytes do not depend on the thread count.
void generate(const Built& b, size_t index, std::span<uint8_t> out, uint64_t seed,
              int threads) {
  const TensorPlan& t = b.plan.tensors[index];
  const Role role = b.roles[index];
  const int64_t cols = t.dims[0];
  const size_t stride = row_bytes(t.type, cols);
  const int64_t rows = static_cast<int64_t>(out.size() / stride);
  if (role == Role::RopeFreqs) {
    const auto factors = llama3_rope_factors(b.like->rope_base, b.like->head_dim);
    quantize_row(t.type, factors.data(), out.data(), cols);
    return;
  }
  const bool vocab_rows = t.name == "token_embd.weight" || t.name == "output.weight";
  auto work = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      double mean = 0.0, stddev = 0.02;  // biases; norms are 1 + this noise
      if (role == Role::Norm) {
        mean = 1.0;
      } else if (role != Role::Bias) {
        // Unit-variance outputs for unit-variance inputs keep activations in range over
        // any number of layers.
        stddev = 1.0 / std::sqrt(static_cast<double>(cols));
        // Control tokens (specials, reserved padding) get the small embeddings of tokens a
        // real model rarely or never saw, so generated text is made of visible tokens.
        if (vocab_rows && b.token_types[static_cast<size_t>(r)] ==
                              static_cast<int32_t>(TokenType::Control))
          stddev *= 0.1;
      }
      Random::for_row(seed, t.name, r).normal(row, mean, stddev);
      quantize_row(t.type, row.data(), out.data() + static_cast<size_t>(r) * stride, cols);
    }
  };
  const int64_t n = std::clamp<int64_t>(rows / 16, 1, threads);
  std::vector<std::jthread> pool;
  for (int64_t i = 1; i < n; ++i) pool.emplace_back(work, rows * i / n, rows * (i + 1) / n);
  work(0, rows / n);
}

}  // namespace

std::vector<LikeInfo> likes() {
  std::vector<LikeInfo> out;
  for (const Like& l : like_table())
    out.push_back({std::string(l.name), std::string(l.arch), std::string(l.description),
                   std::string(l.default_type)});
  return out;
}

std::vector<std::string> type_names() { return quantize::file_type_names(); }

Plan plan(const Options& options) { return build(options).plan; }

Plan synthesize(const Options& options, const std::string& path) {
  Built b = build(options);
  gguf::Writer writer;
  for (const auto& [key, value] : b.plan.metadata) writer.set(key, value);
  for (const auto& t : b.plan.tensors) writer.declare_tensor(t.name, t.type, t.dims);
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  writer.write(path, [&](size_t index, std::span<uint8_t> out) {
    generate(b, index, out, options.seed, threads);
  });
  return std::move(b.plan);
}

std::string default_model_path() {
  namespace fs = std::filesystem;
  // Bump the version whenever synthesis changes, so that stale cached files are not used.
  constexpr const char* kFile = "default-tiny-v1.gguf";
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? std::optional<fs::path>(v) : std::nullopt;
  };
  fs::path dir;
  if (auto d = env("ISOMER_CACHE_DIR")) dir = *d;
  else if (auto x = env("XDG_CACHE_HOME")) dir = *x / "isomer";
  else if (auto h = env("HOME")) dir = *h / ".cache" / "isomer";
  else fail("no place for the default model: set ISOMER_CACHE_DIR, XDG_CACHE_HOME or HOME");
  const fs::path path = dir / kFile;
  std::error_code ec;
  if (fs::exists(path, ec)) return path.string();
  fs::create_directories(dir, ec);
  if (ec) fail("{}: cannot create the cache folder for the default model: {}", dir.string(),
               ec.message());
  Options tiny;
  tiny.like = "tiny";
  synthesize(tiny, path.string());
  return path.string();
}

}  // namespace isomer::synth
