// Layout constants and checks shared by the GGUF reader and writer, so both accept exactly
// the same files.
#pragma once

#include <isomer/gguf.h>

#include <bit>
#include <cstdint>
#include <span>
#include <string>

namespace isomer::gguf::format {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader and writer copy little-endian fields as they are");

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kVersion = 3;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;
constexpr uint32_t kMaxDims = 4;
// Nested arrays recurse; a bound keeps a hostile file from exhausting the stack.
constexpr int kMaxArrayDepth = 8;
constexpr const char* kAlignmentKey = "general.alignment";

constexpr bool is_valid_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::F64); }
constexpr bool is_unsigned(ValueType t) {
  return t == ValueType::U8 || t == ValueType::U16 || t == ValueType::U32 || t == ValueType::U64;
}
constexpr bool is_signed(ValueType t) {
  return t == ValueType::I8 || t == ValueType::I16 || t == ValueType::I32 || t == ValueType::I64;
}

// Bytes a value of this type takes in the file; for strings and arrays, the least it can take.
uint64_t min_encoded_size(ValueType t);

// "u32", "array of string", ...
std::string describe(const Value& v);

// Byte size of a tensor of `dims` (GGUF order) and type `t`, or the problem with the shape.
// dims.size() must already be 1..kMaxDims.
struct TensorSize {
  uint64_t nbytes = 0;
  std::string problem;  // empty when the shape is valid
};
TensorSize tensor_size(const DTypeTraits& t, std::span<const int64_t> dims);

std::string shape_string(std::span<const int64_t> dims);

constexpr bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace isomer::gguf::format
