// Reference (de)quantisation (ops/src/quant.cpp). Expected values come from the format
// definitions, computed here independently of the code under test, or from GGML's reference
// code (the pinned hashes). The CPU backend's dot products are tested in vec_dot_test.cpp.
#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/ops/dtype.h>
#include <isomer/ops/quant_blocks.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace isomer {
namespace {

using Bytes = std::vector<uint8_t>;

const DType kAllTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                           DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                           DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::string type_name(const testing::TestParamInfo<DType>& info) {
  return std::string(dtype_name(info.param));
}

Bytes quantize(DType type, const std::vector<float>& x) {
  Bytes q(row_bytes(type, static_cast<int64_t>(x.size())));
  quantize_row(type, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

std::vector<float> dequantize(DType type, const Bytes& q, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row(type, q.data(), y.data(), n);
  return y;
}

double nmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    sum += static_cast<double>(x[i]) * x[i];
  }
  return err / sum;
}

std::vector<float> normal(std::mt19937& rng, int64_t n, float scale = 1) {
  std::normal_distribution<float> dist(0, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  return x;
}

int64_t block_elems(DType type) { return traits(type).block_elems; }

// Round-trip error bounds on gaussian data, about 1.3x the worst seen over many rows.
double nmse_bound(DType type) {
  switch (type) {
    case DType::F32: return 0;
    case DType::F16: return 1e-7;
    case DType::BF16: return 1e-5;
    case DType::Q8_0: return 1e-4;
    case DType::Q4_0: return 1.2e-2;
    case DType::Q4_1: return 1e-2;
    case DType::Q5_0: return 3e-3;
    case DType::Q5_1: return 2.5e-3;
    case DType::Q4_K: return 8e-3;
    case DType::Q5_K: return 2.5e-3;
    case DType::Q6_K: return 6e-4;
    default: return 0;
  }
}

// Bits per element of the integer levels (the precision of the largest element of a block).
int level_bits(DType type) {
  switch (type) {
    case DType::Q8_0: return 8;
    case DType::Q4_0: case DType::Q4_1: case DType::Q4_K: return 4;
    case DType::Q5_0: case DType::Q5_1: case DType::Q5_K: return 5;
    case DType::Q6_K: return 6;
    case DType::BF16: return 8;
    default: return 11;  // F16, and F32 (exact)
  }
}

class QuantTypes : public testing::TestWithParam<DType> {};
class BlockTypes : public testing::TestWithParam<DType> {};

INSTANTIATE_TEST_SUITE_P(All, QuantTypes, testing::ValuesIn(kAllTypes), type_name);
INSTANTIATE_TEST_SUITE_P(All, BlockTypes,
                         testing::Values(DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                                         DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K),
                         type_name);

// ---- (a) quantise -> dequantise round trips ------------------------------------------------

TEST_P(QuantTypes, RoundTripIsWithinTheTypesPrecision) {
  const DType type = GetParam();
  std::mt19937 rng(1);
  // Several blocks, odd block counts; plain types also odd element counts.
  std::vector<int64_t> sizes;
  for (int64_t blocks : {1, 2, 3, 5, 7, 8, 13}) sizes.push_back(blocks * std::max<int64_t>(block_elems(type), 256));
  if (block_elems(type) == 1) sizes.insert(sizes.end(), {1, 7, 33, 1001});
  for (int64_t n : sizes)
    for (float scale : {1.0f, 1e4f, 1e-2f}) {
      const auto x = normal(rng, n, scale);
      EXPECT_LE(nmse(x, dequantize(type, quantize(type, x), n)), nmse_bound(type))
          << "n=" << n << " scale=" << scale;
    }
}

TEST_P(QuantTypes, ZeroBlocksStayZero) {
  const DType type = GetParam();
  const int64_t n = 2 * std::max<int64_t>(block_elems(type), 256);
  std::mt19937 rng(2);
  auto x = normal(rng, n);
  std::fill(x.begin(), x.begin() + n / 2, 0.0f);  // whole blocks of zeros next to data
  const auto y = dequantize(type, quantize(type, x), n);
  for (int64_t i = 0; i < n / 2; ++i) ASSERT_EQ(y[i], 0.0f) << i;
  for (int64_t i = n / 2; i < n; ++i) ASSERT_TRUE(std::isfinite(y[i])) << i;
}

TEST_P(QuantTypes, OutliersAndConstantsAreRepresented) {
  const DType type = GetParam();
  const int64_t n = std::max<int64_t>(block_elems(type), 256);
  std::mt19937 rng(3);
  for (float outlier : {1000.0f, -1000.0f, 3e4f}) {
    auto x = normal(rng, n, 0.01f);
    x[37] = outlier;
    const auto y = dequantize(type, quantize(type, x), n);
    // The block's largest element is reconstructed to within about one step of its level grid.
    EXPECT_NEAR(y[37], outlier, std::fabs(outlier) * std::ldexp(1.0, 1 - level_bits(type)))
        << "outlier " << outlier;
    for (float v : y) ASSERT_TRUE(std::isfinite(v));
  }
  // A constant block: exact for the types with a minimum, else within fp16 rounding of d.
  const std::vector<float> x(static_cast<size_t>(n), 0.75f);
  const auto y = dequantize(type, quantize(type, x), n);
  for (float v : y) ASSERT_NEAR(v, 0.75f, 0.75f * 2e-3f);
}

TEST_P(BlockTypes, RowsThatAreNotWholeBlocksAreRejected) {
  const DType type = GetParam();
  std::vector<float> x(static_cast<size_t>(block_elems(type) + 1));
  Bytes q(row_bytes(type, 2 * block_elems(type)));
  EXPECT_THROW(quantize_row(type, x.data(), q.data(), block_elems(type) + 1), Error);
  EXPECT_THROW(dequantize_row(type, q.data(), x.data(), block_elems(type) - 1), Error);
}

TEST(Quant, IntegerTypesCannotBeConverted) {
  int32_t v[4] = {};
  float f[4];
  EXPECT_THROW(dequantize_row(DType::I32, v, f, 4), Error);
  EXPECT_THROW(quantize_row(DType::I32, f, v, 4), Error);
}

// Exactness with GGML: FNV-1a hashes of what GGML's quantize_row_*_ref writes for this input,
// GGML built without FP contraction (every a*b+c rounded twice, as C specifies; a GGML built
// with -march=native and GCC's default -ffp-contract=fast gives other Q4_K and Q5_K bytes).
uint64_t fnv1a(const Bytes& bytes) {
  uint64_t h = 0xcbf29ce484222325;
  for (uint8_t b : bytes) h = (h ^ b) * 0x100000001b3;
  return h;
}

std::vector<float> pinned_input() {
  std::vector<float> x(16384);
  uint32_t s = 12345;
  for (size_t i = 0; i < x.size(); ++i) {
    s = s * 1664525u + 1013904223u;
    x[i] = (static_cast<float>(s >> 8) / 16777216.0f - 0.5f) * (i % 97 == 0 ? 40.0f : 2.0f);
  }
  std::fill(x.begin() + 256, x.begin() + 288, 0.0f);  // a zero sub-block
  return x;
}

TEST(Quant, QuantisationMatchesGgmlBitForBit) {
  const auto x = pinned_input();
  const std::pair<DType, uint64_t> expected[] = {
      {DType::Q8_0, 0x680d6096f894ba1cULL}, {DType::Q4_0, 0x042217542c3121a1ULL},
      {DType::Q4_1, 0xcdec69b3124ff7dbULL}, {DType::Q5_0, 0x42171078ce7771e2ULL},
      {DType::Q5_1, 0x6560b206cc92ff48ULL}, {DType::Q4_K, 0x72b5a0f1b517176fULL},
      {DType::Q5_K, 0x96222ee0db585cf9ULL}, {DType::Q6_K, 0xc6d9a27d091e7742ULL}};
  for (const auto& [type, hash] : expected)
    EXPECT_EQ(fnv1a(quantize(type, x)), hash) << dtype_name(type);
}

// ---- (b) fp16 and bf16 ---------------------------------------------------------------------

// The value of an IEEE half from its fields, in double.
double half_value(uint16_t h) {
  const int exp = h >> 10 & 31, mant = h & 1023;
  const double sign = h & 0x8000 ? -1 : 1;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return sign * std::numeric_limits<double>::infinity();  // (or NaN)
  return sign * std::ldexp(1024 + mant, exp - 25);
}

bool is_nan_half(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

TEST(Fp16, EveryHalfConvertsExactlyAndRoundTrips) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = fp16_to_f32(h);
    if (is_nan_half(h)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0);
      ASSERT_TRUE(is_nan_half(f32_to_fp16(f))) << h;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), half_value(h)) << h;
    ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << h;  // -0 stays -0
    ASSERT_EQ(f32_to_fp16(f), h) << h;
  }
}

TEST(Fp16, RoundsToNearestEven) {
  // Between consecutive halves a < b: the midpoint goes to the even one, anything off the
  // midpoint to the nearer one. Includes subnormals, and 65520 (between 65504 and "65536")
  // going to infinity.
  for (uint16_t a = 0; a < 0x7c00; ++a) {
    const uint16_t b = a + 1;
    const double lo = half_value(a), hi = b == 0x7c00 ? 65536.0 : half_value(b);
    const auto mid = static_cast<float>((lo + hi) / 2);  // exact: 12 significant bits
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    for (const uint16_t sign : {0, 0x8000}) {
      const float s = sign ? -1.0f : 1.0f;
      ASSERT_EQ(f32_to_fp16(s * mid), sign | (a % 2 == 0 ? a : b)) << a;
      ASSERT_EQ(f32_to_fp16(s * std::nextafter(mid, 0.0f)), sign | a) << a;
      ASSERT_EQ(f32_to_fp16(s * std::nextafter(mid, 1e30f)), sign | b) << a;
    }
  }
  EXPECT_EQ(f32_to_fp16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_fp16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // a tie between 0 and the smallest
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_fp16(-1e-30f), 0x8000);
  EXPECT_EQ(f32_to_fp16(std::numeric_limits<float>::quiet_NaN()), 0x7e00);  // GGML's NaN
}

TEST(Bf16, EveryBf16ConvertsExactlyAndRoundTrips) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = bf16_to_f32(h);
    ASSERT_EQ(std::bit_cast<uint32_t>(f), i << 16);
    if (std::isnan(f))
      ASSERT_EQ(f32_to_bf16(f), h | 64) << h;  // made quiet
    else
      ASSERT_EQ(f32_to_bf16(f), h) << h;
  }
}

TEST(Bf16, RoundsToNearestEvenAndKeepsNaNs) {
  for (uint32_t a = 0; a < 0x7f80; ++a) {
    const uint32_t b = a + 1;  // 0x7f80 is infinity: the top midpoint rounds up to it
    const float mid = std::bit_cast<float>(a << 16 | 0x8000);
    for (const uint32_t sign : {0u, 0x8000u}) {
      const float s = sign ? -1.0f : 1.0f;
      ASSERT_EQ(f32_to_bf16(s * mid), sign | (a % 2 == 0 ? a : b)) << a;
      ASSERT_EQ(f32_to_bf16(s * std::bit_cast<float>(a << 16 | 0x7fff)), sign | a) << a;
      ASSERT_EQ(f32_to_bf16(s * std::bit_cast<float>(a << 16 | 0x8001)), sign | b) << a;
    }
  }
  // A NaN whose payload lies in the dropped bits must not become infinity.
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7f800001u)), 0x7fc0);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0xff800001u)), 0xffc0);
}

// ---- (c) hand-built blocks -----------------------------------------------------------------

constexpr uint16_t kHalfOne = 0x3c00, kHalfHalf = 0x3800, kHalfTwo = 0x4000, kHalfMinusOne = 0xbc00;

template <class Block>
void expect_block(DType type, const Block& b, const std::vector<double>& expected) {
  const auto n = static_cast<int64_t>(expected.size());
  std::vector<float> y(expected.size());
  dequantize_row(type, &b, y.data(), n);
  for (size_t i = 0; i < expected.size(); ++i)
    ASSERT_EQ(y[i], expected[i]) << dtype_name(type) << " element " << i;
}

TEST(QuantLayout, LegacyBlocks) {
  using namespace quant;
  std::vector<double> e(32);

  BlockQ8_0 q8{kHalfHalf, {}};
  for (int i = 0; i < 32; ++i) q8.qs[i] = static_cast<int8_t>(i * 8 - 128), e[i] = (i * 8 - 128) * 0.5;
  expect_block(DType::Q8_0, q8, e);

  // Byte j: element j in the low nibble, element j+16 in the high nibble.
  BlockQ4_0 q40{kHalfTwo, {}};
  for (int j = 0; j < 16; ++j) q40.qs[j] = static_cast<uint8_t>(j | (15 - j) << 4);
  for (int j = 0; j < 16; ++j) e[j] = (j - 8) * 2.0, e[j + 16] = (15 - j - 8) * 2.0;
  expect_block(DType::Q4_0, q40, e);

  BlockQ4_1 q41{kHalfOne, kHalfMinusOne, {}};
  std::memcpy(q41.qs, q40.qs, 16);
  for (int j = 0; j < 16; ++j) e[j] = j - 1.0, e[j + 16] = 15 - j - 1.0;
  expect_block(DType::Q4_1, q41, e);

  // Fifth bits: bit i of qh (little endian) belongs to element i.
  const uint8_t qh[4] = {0x01, 0x80, 0xff, 0x5a};  // elements 0, 15, 16-23, 25 27 28 30
  BlockQ5_0 q50{kHalfHalf, {}, {}};
  std::memcpy(q50.qh, qh, 4);
  std::memcpy(q50.qs, q40.qs, 16);
  for (int i = 0; i < 32; ++i) {
    const int nibble = i < 16 ? i : 31 - i;
    const bool high = i == 0 || i == 15 || (i >= 16 && i <= 23) || i == 25 || i == 27 || i == 28 || i == 30;
    e[i] = (nibble + (high ? 16 : 0) - 16) * 0.5;
  }
  expect_block(DType::Q5_0, q50, e);

  BlockQ5_1 q51{kHalfHalf, kHalfTwo, {}, {}};
  std::memcpy(q51.qh, qh, 4);
  std::memcpy(q51.qs, q40.qs, 16);
  for (int i = 0; i < 32; ++i) e[i] = (e[i] / 0.5 + 16) * 0.5 + 2.0;
  expect_block(DType::Q5_1, q51, e);
}

// Packs 6-bit scales and mins into the 12 bytes of Q4_K / Q5_K as the format defines them.
void pack_scales(const int (&sc)[8], const int (&m)[8], uint8_t* out) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
    out[j + 4] = static_cast<uint8_t>((m[j] & 63) | (m[j + 4] >> 4) << 6);
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
  }
}

TEST(QuantLayout, KQuantBlocks) {
  using namespace quant;
  const int sc[8] = {1, 2, 3, 4, 17, 33, 50, 63}, m[8] = {0, 1, 2, 3, 20, 40, 60, 63};
  // Levels: element i of sub-block j is (i + 3j) % 16 (Q4_K) or (i + 5j) % 32 (Q5_K).
  std::vector<double> e(256);

  BlockQ4_K q4{kHalfOne, kHalfHalf, {}, {}};
  pack_scales(sc, m, q4.scales);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32, l = i % 32, level = (l + 3 * j) % 16;
    q4.qs[32 * (j / 2) + l] |= static_cast<uint8_t>(level << 4 * (j % 2));
    e[i] = 1.0 * sc[j] * level - 0.5 * m[j];
  }
  expect_block(DType::Q4_K, q4, e);

  BlockQ5_K q5{kHalfHalf, kHalfTwo, {}, {}, {}};
  pack_scales(sc, m, q5.scales);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32, l = i % 32, level = (l + 5 * j) % 32;
    q5.qs[32 * (j / 2) + l] |= static_cast<uint8_t>((level & 15) << 4 * (j % 2));
    q5.qh[l] |= static_cast<uint8_t>((level >> 4) << j);
    e[i] = 0.5 * sc[j] * level - 2.0 * m[j];
  }
  expect_block(DType::Q5_K, q5, e);

  // Q6_K: levels (7i) % 64, scales 9k - 70, d = 0.25.
  BlockQ6_K q6{};
  q6.d = 0x3400;
  int level[256];
  for (int i = 0; i < 256; ++i) level[i] = 7 * i % 64;
  for (int k = 0; k < 16; ++k) q6.scales[k] = static_cast<int8_t>(9 * k - 70);
  for (int half = 0; half < 2; ++half)
    for (int l = 0; l < 32; ++l) {
      const int* q = level + 128 * half;
      q6.ql[64 * half + l] = static_cast<uint8_t>((q[l] & 15) | (q[l + 64] & 15) << 4);
      q6.ql[64 * half + l + 32] = static_cast<uint8_t>((q[l + 32] & 15) | (q[l + 96] & 15) << 4);
      q6.qh[32 * half + l] =
          static_cast<uint8_t>(q[l] >> 4 | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
    }
  for (int i = 0; i < 256; ++i) e[i] = 0.25 * (9 * (i / 16) - 70) * (level[i] - 32);
  expect_block(DType::Q6_K, q6, e);
}

}  // namespace
}  // namespace isomer
