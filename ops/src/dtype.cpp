#include <isomer/error.h>
#include <isomer/ops/dtype.h>

#include <array>

namespace isomer {
namespace {

struct Entry {
  DType type;
  DTypeTraits traits;
  bool activation_only = false;  // never a tensor type (see dtype.h)
};

constexpr std::array kSupported = {
    Entry{DType::F32, {"F32", 1, 4, false}},     Entry{DType::F16, {"F16", 1, 2, false}},
    Entry{DType::BF16, {"BF16", 1, 2, false}},   Entry{DType::I32, {"I32", 1, 4, false}},
    Entry{DType::Q4_0, {"Q4_0", 32, 18, true}},  Entry{DType::Q4_1, {"Q4_1", 32, 20, true}},
    Entry{DType::Q5_0, {"Q5_0", 32, 22, true}},  Entry{DType::Q5_1, {"Q5_1", 32, 24, true}},
    Entry{DType::Q8_0, {"Q8_0", 32, 34, true}},  Entry{DType::Q4_K, {"Q4_K", 256, 144, true}},
    Entry{DType::Q5_K, {"Q5_K", 256, 176, true}}, Entry{DType::Q6_K, {"Q6_K", 256, 210, true}},
    Entry{DType::Q8_1, {"Q8_1", 32, 36, true}, true},
    Entry{DType::Q8_K, {"Q8_K", 256, 292, true}, true},
};

// GGML's names for every type id it has defined, so an unsupported type is named in errors.
constexpr std::array<std::string_view, 42> kGgmlNames = {
    "F32",  "F16",     "Q4_0",    "Q4_1",    "Q4_2",   "Q4_3",  "Q5_0",    "Q5_1",
    "Q8_0", "Q8_1",    "Q2_K",    "Q3_K",    "Q4_K",   "Q5_K",  "Q6_K",    "Q8_K",
    "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S",   "IQ4_XS",
    "I8",   "I16",     "I32",     "I64",     "F64",    "IQ1_M", "BF16",    "Q4_0_4_4",
    "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8",
    "MXFP4", "NVFP4",  "unknown"};

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t ggml_id) {
  for (const auto& e : kSupported)
    if (static_cast<uint32_t>(e.type) == ggml_id && !e.activation_only) return e.traits;
  return std::nullopt;
}

const DTypeTraits& traits(DType type) {
  for (const auto& e : kSupported)
    if (e.type == type) return e.traits;
  fail("unsupported tensor type id {}", static_cast<uint32_t>(type));
}

std::string_view dtype_name(DType type) { return traits(type).name; }

std::string_view ggml_type_name(uint32_t ggml_id) {
  return ggml_id + 1 < kGgmlNames.size() ? kGgmlNames[ggml_id] : kGgmlNames.back();
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& e : kSupported)
    if (e.traits.name == name && !e.activation_only) return e.type;
  return std::nullopt;
}

size_t row_bytes(DType type, int64_t n) {
  const auto& t = traits(type);
  if (n < 0 || n % t.block_elems != 0)
    fail("a row of {} elements is not a whole number of {} blocks ({} elements each)", n, t.name,
         t.block_elems);
  return static_cast<size_t>(n / t.block_elems) * t.block_bytes;
}

}  // namespace isomer
