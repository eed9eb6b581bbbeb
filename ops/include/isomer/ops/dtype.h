// Element and weight types. The numeric ids are GGML's (they are what GGUF files store);
// the block layouts are defined and documented in isomer/ops/quant_blocks.h, their reference
// (de)quantisation is in ops/src/quant.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace isomer {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,   // activation-only, see below
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,  // activation-only
  I32 = 26,
  BF16 = 30,
};

struct DTypeTraits {
  std::string_view name;
  int64_t block_elems;   // elements per block (1 for plain types)
  size_t block_bytes;    // bytes per block
  bool quantized;
};

// Q8_1 and Q8_K are activation-only: the blocks GGML's CPU matrix products quantise
// activations to (see backends/cpu/vec_dot.h). They have traits (names, row sizes) but are not
// tensor types: dtype_traits() and dtype_from_name(), which vet model files and user input,
// do not know them, and the reference (de)quantisation does not handle them.

// Traits of a tensor type isomer supports; nullopt for an id it does not implement.
std::optional<DTypeTraits> dtype_traits(uint32_t ggml_id);
// Traits of any DType, activation-only ones included.
const DTypeTraits& traits(DType type);
std::string_view dtype_name(DType type);
// GGML's name for any type id, including ones isomer does not support (for error messages).
std::string_view ggml_type_name(uint32_t ggml_id);
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes of a row of n elements; throws if n is not a multiple of the block size.
size_t row_bytes(DType type, int64_t n);

// Reference dequantisation of n elements (n a multiple of the block size) to f32.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
// Reference quantisation of n f32 values (n a multiple of the block size), round-to-nearest
// with the same block scale choice as GGML's reference quantizers.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

// fp16 / bf16 scalar conversions (IEEE half, round-to-nearest-even; bf16 as GGML rounds it).
float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace isomer
