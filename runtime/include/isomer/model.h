// Loading a GGUF model onto a device, and running it: Model holds the weights, the
// architecture's hyper-parameters and the tokenizer; Context holds one sequence's KV cache
// and evaluates tokens (batched prefill, then incremental decode).
#pragma once

#include <isomer/backend.h>
#include <isomer/gguf.h>
#include <isomer/tokenizer.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
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
  // Portable kernels, or the vendor library for matrix products (CPU: oneDNN, CUDA: cuBLAS,
  // HIP: hipBLAS); see KernelChoice.
  KernelChoice kernels = KernelChoice::Portable;
  bool use_mmap = true;  // false: read the file into memory (see gguf::File::OpenOptions)
  // Called with the fraction of the load done (reading without mmap, uploading weights to a
  // device), last with 1; returning false cancels the load with isomer::Cancelled.
  std::function<bool(float)> progress = nullptr;
};

// Options that load onto `device`: "cpu", "vulkan" (its first device), "vulkan:1" ...;
// isomer::Error when the index after ':' is not a number.
LoadOptions load_options_for(const std::string& device, int threads = 0);

class LoadProgress;

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
  // The CPU device that runs the ops device() cannot (device() itself when that is the CPU).
  Device& fallback_device() const { return cpu_ ? *cpu_ : *device_; }
  // The weight called `name` as `device` (device() or fallback_device()) holds it, or null if
  // the file has none.
  const TensorBinding* weight(std::string_view name, const Device& device) const;
  const TensorBinding* weight(std::string_view name) const { return weight(name, *device_); }
  // Held while a Context runs on or allocates from the model's devices: contexts of one model
  // may be used from many threads at once, and a device runs one evaluation at a time.
  std::mutex& device_mutex() const { return device_mutex_; }

 private:
  Model() = default;
  ModelConfig config_;
  std::unique_ptr<gguf::File> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  // The weights as one device holds them: one buffer over the file's data section.
  struct Placement {
    std::unique_ptr<Buffer> buffer;
    std::vector<std::pair<std::string, TensorBinding>> bindings;  // sorted by name
  };
  void place(Device& device, Placement& placement, LoadProgress& progress) const;

  std::unique_ptr<Device> device_;
  std::unique_ptr<Device> cpu_;  // the fallback, when device_ is not the CPU
  Placement weights_, host_weights_;
  mutable std::mutex device_mutex_;
};

struct ContextOptions {
  int64_t n_ctx = 0;          // 0: the model's training context, at most 4096
  DType kv_type = DType::F16;  // KV cache element type (F16, BF16 or F32)
  bool strict = false;  // an op the device cannot run is an error, not a CPU fallback
  // Nodes (by name, e.g. "blk.3.ffn_resid") whose F32 outputs each evaluation keeps, for
  // Context::kept(): per-layer comparisons between backends. Empty: none (no cost).
  std::function<bool(std::string_view node)> keep = nullptr;
};

// What the last evaluation ran where: the provenance of its logits.
struct RunLedger {
  // op name -> device id -> nodes of that op run there (copies between devices included as
  // "copy").
  std::map<std::string, std::map<std::string, int64_t>> ops;
  int64_t copies = 0;          // values moved between devices
  uint64_t copied_bytes = 0;   // their bytes
  int splits = 0;              // device runs, summed over the evaluation's graphs
  // Graphs built for it: one per micro-batch, none for a decode step that reused the last
  // decode step's graph and memory with its position moved on (two for the first decode step,
  // which builds the next position's graph as well to check that only positions differ).
  int graphs_built = 0;
};

// What a context has done and holds, for tokens/s and memory reports.
struct ContextStats {
  int64_t prompt_tokens = 0;  // tokens evaluated in batches of more than one
  double prompt_seconds = 0;
  int64_t decode_tokens = 0;  // tokens evaluated one at a time
  double decode_seconds = 0;
  uint64_t memory_bytes = 0;  // KV cache and work memory, on every device
};

struct Schedule;
class Graph;
struct Node;
using ValueId = int32_t;

class Context {
 public:
  Context(const Model& model, const ContextOptions& options = {});
  ~Context();

  // Appends `tokens` to the sequence and returns their logits, row-major [rows, n_vocab]: the
  // last token's row, or one row per token with all_logits. isomer::Error if the sequence
  // would outgrow the context or a token id is outside the vocabulary.
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false);

  // The nodes of the last evaluation that ran on the CPU because the model's device cannot
  // run them: "op at node: reason".
  const std::vector<std::string>& fallbacks() const { return fallbacks_; }
  // Device runs in the last graph evaluated: 1 when the model's device ran all of it.
  int splits() const { return splits_; }
  // Ops per device, copies between devices and splits of the last evaluation.
  const RunLedger& ledger() const { return ledger_; }
  // The outputs of the nodes ContextOptions::keep chose, in graph order, from the last
  // evaluation (its last micro-batch): name -> row-major F32 values [rows, width].
  const std::vector<std::pair<std::string, std::vector<float>>>& kept() const { return kept_; }
  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  // Forgets the whole sequence (reset) or all but its first `n_keep` positions (truncate;
  // isomer::Error when n_keep is negative or beyond n_past()).
  void reset() {
    n_past_ = 0;
    n_logits_ = 0;
  }
  void truncate(int64_t n_keep);
  // What the last eval returned; empty after reset or truncate.
  std::span<const float> logits() const { return {logits_.data(), n_logits_}; }
  ContextStats stats() const;
  const Model& model() const { return model_; }

 private:
  struct KvBuffer {
    std::string name;  // the graph's state value
    Device* device;
    std::unique_ptr<Buffer> buffer;
  };
  struct Plan;  // a schedule bound to memory, as run() executes it (executor.cpp)
  KvBuffer& kv_buffer(const std::string& name);
  static ValueId graph_value(const Graph& graph, const std::string& name);
  Schedule plan(int64_t n_tokens, int64_t n_past, bool all_logits);
  Plan* decode_plan(bool all_logits);
  void prepare();
  std::vector<Device*> bind(const Schedule& schedule, const std::vector<bool>& kept_value);
  void bind(Plan& plan);
  Step step(const Node& node) const;
  void run(Plan& plan, std::span<const int32_t> tokens);

  const Model& model_;
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  DType kv_type_;
  bool strict_ = false;
  std::function<bool(std::string_view)> keep_;
  std::vector<KvBuffer> kv_;
  std::map<const Device*, std::unique_ptr<Buffer>> arenas_;
  std::vector<TensorBinding> bind_;
  // The last decode step's plan, which the next reuses (decode_plan); whether bind_ and its
  // steps are still that plan's (a prompt batch binds its own); and whether decode plans are
  // reused at all (false once the graph was found to change with the position in other ways
  // than the positions its ops hold).
  std::unique_ptr<Plan> decode_;
  bool decode_bound_ = false;
  bool decode_reusable_ = true;
  std::vector<std::string> fallbacks_;
  int splits_ = 0;
  RunLedger ledger_;
  std::vector<std::pair<std::string, std::vector<float>>> kept_;
  // The last eval's logits: the first n_logits_ of logits_, whose memory is reused (clearing
  // a vocabulary's row each token was 0.5 % of qwen2.5-0.5b decode's main-thread samples).
  std::vector<float> logits_;
  size_t n_logits_ = 0;
  ContextStats stats_;
};

}  // namespace isomer
