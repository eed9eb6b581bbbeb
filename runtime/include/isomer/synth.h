// Synthetic models: GGUF files with the architecture, tensor names, shapes, hyper-parameters
// and tokenizer layout of real models ("likes"), and seeded pseudo-random weights. Their text
// is gibberish; they exist to exercise loaders, backends and weight types at real sizes
// without downloading anything. The same options give a byte-identical file on every
// platform.
#pragma once

#include <isomer/gguf.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace isomer::synth {

constexpr uint64_t kDefaultSeed = 42;

struct LikeInfo {
  std::string name;          // e.g. "qwen2.5-0.5b"
  std::string arch;          // GGUF general.architecture
  std::string description;   // the real model imitated, and its shape
  std::string default_type;  // weight type when none is asked for
};
std::vector<LikeInfo> likes();
// Weight types, with llama-quantize's names: "f32", "f16", "bf16", "q8_0", "q4_k_m", ...
std::vector<std::string> type_names();

struct Options {
  std::string like = "tiny";
  std::string type;           // empty: the like's default
  uint64_t seed = kDefaultSeed;
  int n_layer = 0;            // 0: the like's; fewer gives a smaller file (tests)
  int threads = 0;            // 0: all cores; the file does not depend on it
};

struct TensorPlan {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> dims;  // GGUF order (innermost first)
};

struct Plan {
  std::vector<std::pair<std::string, gguf::Value>> metadata;
  std::vector<TensorPlan> tensors;
  int64_t n_params = 0;
};
// Everything synthesize() writes except the weights: cheap even for the biggest like.
// isomer::Error for an unknown like or type, naming the known ones.
Plan plan(const Options& options);

// Writes the model to `path` atomically, one tensor at a time (memory stays near the size of
// the largest tensor). Returns what it wrote.
Plan synthesize(const Options& options, const std::string& path);

// The built-in default model (like "tiny", default type and seed), in $ISOMER_CACHE_DIR, else
// $XDG_CACHE_HOME/isomer, else ~/.cache/isomer; synthesised there first if missing.
std::string default_model_path();

}  // namespace isomer::synth
