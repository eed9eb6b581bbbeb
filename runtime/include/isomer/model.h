// Loading a GGUF model onto a device, and running it: Model holds the weights, the
// architecture's hyper-parameters and the tokenizer; Context holds one sequence's KV cache
// and evaluates tokens (batched prefill, then incremental decode).
#pragma once

#include <isomer/backend.h>
#include <isomer/gguf.h>
#include <isomer/tokenizer.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace isomer {

enum class RopeScaling { None, Linear, Yarn };

// Hyper-parameters read from the `<arch>.*` metadata.
struct ModelConfig {
  std::string arch;
  std::string name;  // general.name, if any
  int n_layer = 0;
  int64_t n_embd = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;  // `attention.key_length`, else n_embd / n_head
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  float norm_eps = 1e-5f;
  int n_rot = 0;
  float rope_freq_base = 10000.0f;
  RopeScaling rope_scaling = RopeScaling::None;
  float rope_freq_scale = 1.0f;  // 1 / scaling factor
  int64_t rope_n_ctx_orig = 0;
  float yarn_beta_fast = 32.0f, yarn_beta_slow = 1.0f;
};

struct LoadOptions {
  std::string backend = "cpu";
  int device = 0;
  int threads = 0;  // CPU threads; 0 = all cores
};

// The architectures isomer builds graphs for, e.g. {"llama", "qwen2", "qwen3"}.
std::vector<std::string> supported_architectures();

class Model {
 public:
  // Opens, validates and places the weights on the device. isomer::Error naming the file and
  // the problem (unknown architecture, missing or misshapen tensor, unsupported type...).
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& options = {});
  ~Model();

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const gguf::File& file() const { return *file_; }
  Device& device() const { return *device_; }
  // The weight called `name` as the device holds it, or null if the file has none.
  const TensorBinding* weight(std::string_view name) const;

 private:
  Model() = default;
  ModelConfig config_;
  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Device> device_;
  std::unique_ptr<Buffer> weights_;
  std::vector<std::pair<std::string, TensorBinding>> bindings_;  // sorted by name
};

struct ContextOptions {
  int64_t n_ctx = 0;          // 0: the model's training context, at most 4096
  DType kv_type = DType::F16;  // KV cache element type (F16 or F32)
};

class Context {
 public:
  Context(const Model& model, const ContextOptions& options = {});
  ~Context();

  // Appends `tokens` to the sequence and returns their logits, row-major [rows, n_vocab]: the
  // last token's row, or one row per token with all_logits. isomer::Error if the sequence
  // would outgrow the context or a token id is outside the vocabulary.
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  void reset() { n_past_ = 0; }
  const Model& model() const { return model_; }

 private:
  const Model& model_;
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  DType kv_type_;
  Buffer* state(const std::string& name) const;

  std::vector<std::pair<std::string, std::unique_ptr<Buffer>>> kv_;  // the KV cache, by name
  std::unique_ptr<Buffer> arena_;
  std::vector<float> logits_;
};

}  // namespace isomer
