// Weight types of whole files, as llama-quantize makes them: the type each tensor gets for a
// file type (llama.cpp's llama_tensor_get_type(), with its mixes and fallbacks), and
// `quantize_file`, which converts a GGUF to another file type one tensor at a time. `isomer
// synth` makes its files with the same choices, so a synthetic F32 model quantised here gives
// the bytes `isomer synth --type` writes directly.
#pragma once

#include <isomer/ops/dtype.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace isomer::quantize {

// A file type: llama-quantize's name (lower case here, any case accepted), the type most
// matrices get, and llama.cpp's LLAMA_FTYPE, stored as general.file_type.
struct FileType {
  std::string_view name;
  DType base;
  uint32_t ftype;
};
// f32, f16, bf16, q8_0, q6_k, q5_k_m, q5_1, q5_0, q4_k_m, q4_1, q4_0.
std::span<const FileType> file_types();
std::vector<std::string> file_type_names();
// isomer::Error naming the known types for an unknown name.
const FileType& find_file_type(std::string_view name);
// llama.cpp's description of a general.file_type value (llama_model_ftype_name), e.g.
// "Q4_K - Medium"; "unknown" for one it does not describe.
std::string ftype_description(uint32_t ftype);

// What the choice for one tensor depends on in the rest of the model.
struct ModelInfo {
  int n_layer = 0;          // layers (llama.cpp counts the attn_v tensors)
  bool has_output = false;  // an output.weight of its own; else token_embd is the output
};

// Whether llama-quantize converts the tensor at all: names ending in "weight" of 2 or more
// dimensions, not norms (nor the few other kinds it leaves alone). Others keep their type.
bool converts(std::string_view name, size_t n_dims);

struct Choice {
  DType type = DType::F32;
  // Why a fallback type was needed, e.g. "rows of 896 are not a multiple of Q4_K's block of
  // 256: Q5_0"; empty without one.
  std::string fallback;
  // llama-quantize stops with "Unsupported tensor size encountered" for this tensor (a
  // non-K type whose blocks do not fit the rows); isomer keeps it in F16 instead.
  bool llama_cpp_refuses = false;
};
// The type llama-quantize gives tensor `name` (dims innermost first, now of type `current`)
// in a file of type `ft`, without an importance matrix or per-tensor overrides. The layer is
// read from the name ("blk.N."): llama.cpp counts attn_v and ffn_down tensors in layer order,
// which for these dense models is the layer index.
Choice choose(const FileType& ft, std::string_view name, std::span<const int64_t> dims,
              DType current, const ModelInfo& model);

struct Options {
  std::string type;               // a file type name, e.g. "Q4_K_M"
  int threads = 0;                // 0: all cores
  bool allow_requantize = false;  // convert tensors that are already quantised
};

struct TensorReport {
  std::string name;
  std::vector<int64_t> dims;
  DType from = DType::F32, to = DType::F32;
  std::string note;  // the fallback, if any
};

struct Report {
  FileType type;
  std::vector<TensorReport> tensors;
  std::vector<std::string> warnings;  // requantised tensors, refused-by-llama.cpp fallbacks
  uint64_t bytes_in = 0, bytes_out = 0;  // tensor data
};

// What quantize_file would write, without writing: isomer::Error for an unknown type, a file
// that is not a model, or quantised tensors without allow_requantize (llama-quantize refuses
// them too).
Report plan_file(const std::string& in, const Options& options);
// Writes `out` atomically: every metadata key of `in` (split keys dropped), then
// general.quantization_version and general.file_type set as llama-quantize sets them, and
// the tensors in `in`'s order, converted one at a time on `threads` threads (memory stays
// near the largest tensor). `log` gets one line per tensor as it is written.
Report quantize_file(const std::string& in, const std::string& out, const Options& options,
                     const std::function<void(const TensorReport&)>& log = {});

}  // namespace isomer::quantize
