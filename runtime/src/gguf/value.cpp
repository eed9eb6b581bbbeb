// Metadata values, tensor infos and the layout rules shared by the reader and writer.
#include "gguf/format.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>

namespace isomer::gguf {

std::string_view value_type_name(ValueType type) {
  static constexpr std::array<std::string_view, 13> kNames = {
      "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < kNames.size() ? kNames[i] : "unknown";
}

Value Value::u32(uint32_t v) { return {ValueType::U32, ValueType::U8, uint64_t{v}}; }
Value Value::i32(int32_t v) { return {ValueType::I32, ValueType::U8, int64_t{v}}; }
Value Value::u64(uint64_t v) { return {ValueType::U64, ValueType::U8, v}; }
Value Value::f32(float v) { return {ValueType::F32, ValueType::U8, double{v}}; }
Value Value::boolean(bool v) { return {ValueType::BOOL, ValueType::U8, v}; }
Value Value::string(std::string v) { return {ValueType::STRING, ValueType::U8, std::move(v)}; }
Value Value::array(ValueType elem_type, Array elems) {
  return {ValueType::ARRAY, elem_type, std::move(elems)};
}

Value Value::strings(std::vector<std::string> v) {
  Array elems;
  elems.reserve(v.size());
  for (auto& s : v) elems.push_back(string(std::move(s)));
  return array(ValueType::STRING, std::move(elems));
}

Value Value::f32s(std::span<const float> v) {
  Array elems;
  elems.reserve(v.size());
  for (float f : v) elems.push_back(f32(f));
  return array(ValueType::F32, std::move(elems));
}

Value Value::i32s(std::span<const int32_t> v) {
  Array elems;
  elems.reserve(v.size());
  for (int32_t i : v) elems.push_back(i32(i));
  return array(ValueType::I32, std::move(elems));
}

int64_t TensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;  // the reader has checked that this cannot overflow
  return n;
}

std::string TensorInfo::shape_string() const { return format::shape_string(dims); }

namespace format {

uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    case ValueType::STRING: return 8;  // the length
    case ValueType::ARRAY: return 12;  // element type and count
  }
  return 1;
}

std::string describe(const Value& v) {
  if (v.type != ValueType::ARRAY) return std::string(value_type_name(v.type));
  return fmt::format("array of {}", value_type_name(v.array_type));
}

TensorSize tensor_size(const DTypeTraits& t, std::span<const int64_t> dims) {
  int64_t elements = 1;
  int64_t rows = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) return {0, fmt::format("dimension {} is negative ({})", i, dims[i])};
    // Rows are counted separately: with dims[0] == 0 they may overflow while elements do not.
    if (__builtin_mul_overflow(elements, dims[i], &elements) ||
        (i > 0 && __builtin_mul_overflow(rows, dims[i], &rows)))
      return {0, "too many elements (the count overflows int64)"};
  }
  if (dims[0] % t.block_elems != 0)
    return {0, fmt::format("rows of {} elements are not a multiple of the {} block size {}",
                           dims[0], t.name, t.block_elems)};
  uint64_t row = 0, nbytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(dims[0] / t.block_elems), t.block_bytes, &row) ||
      __builtin_mul_overflow(row, static_cast<uint64_t>(rows), &nbytes))
    return {0, fmt::format("its {} data would take more than 2^64 bytes", t.name)};
  return {nbytes, {}};
}

std::string shape_string(std::span<const int64_t> dims) {
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

}  // namespace format
}  // namespace isomer::gguf
