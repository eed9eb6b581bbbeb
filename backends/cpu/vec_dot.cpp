// Activation conversion and weight-row dot products (see vec_dot.h).
//
// Each block type has one integer kernel, `idot`: the block's levels times the activation's
// int8 levels, summed with the weight's integer sub-block scales, as `Lanes` (8 int32 lanes with
// AVX2, one int in the portable build; the same total either way). The loops around them, which
// apply the float scales, are shared by all types: dot_blocks (block types) and dot_plain
// (F32, F16, BF16).
#include "vec_dot.h"

#include <isomer/error.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <type_traits>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define ISOMER_VEC_DOT_AVX2 1
#endif

namespace isomer::cpu {
namespace {

using namespace quant;

template <class W>
constexpr bool kIsK4 = std::is_same_v<W, BlockQ4_K> || std::is_same_v<W, BlockQ5_K>;

// ---- Activation conversion: portable code, once per activation row -------------------------

// GGML's nearest_int: round to nearest, ties to even, through the float mantissa (|x| < 2^22).
int nearest_int(float x) {
  return (std::bit_cast<int32_t>(x + 12582912.f) & 0x007fffff) - 0x00400000;
}

// Q8_0 / Q8_1 as GGML's AVX2 quantize_row_q8_0 / _1 (its _mm256_round_ps rounds ties to even).
template <class Block>
void quantize_q8(const float* x, Block& b) {
  float amax = 0;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = amax != 0 ? 127.f / amax : 0.f;
  int sum = 0;
  for (int j = 0; j < kQK; ++j) {
    const int q = nearest_int(x[j] * id);
    b.qs[j] = static_cast<int8_t>(q);
    sum += q;
  }
  b.d = f32_to_fp16(d);
  if constexpr (std::is_same_v<Block, BlockQ8_1>) b.s = f32_to_fp16(d * static_cast<float>(sum));
}

// Q8_K as GGML's quantize_row_q8_K_ref (which its x86 build uses): the scale comes from the
// signed value of largest magnitude, so levels have the opposite sign of x where it is positive.
void quantize_q8(const float* x, BlockQ8_K& b) {
  float amax = 0, max = 0;
  for (int j = 0; j < kQK_K; ++j)
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  if (amax == 0) {
    std::memset(&b, 0, sizeof b);
    return;
  }
  const float iscale = -127.f / max;
  for (int j = 0; j < kQK_K; ++j)
    b.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
  for (int g = 0; g < kQK_K / 16; ++g) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += b.qs[16 * g + l];
    b.bsums[g] = static_cast<int16_t>(sum);
  }
  b.d = 1 / iscale;
}

// The 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K block, unpacked 4 at a time
// (the layout is in quant_blocks.h).
void scales_k4(const uint8_t* packed, uint8_t* sc, uint8_t* mn) {
  uint32_t u[3];
  std::memcpy(u, packed, 12);
  const uint32_t s[2] = {u[0] & 0x3f3f3f3f, (u[2] & 0x0f0f0f0f) | ((u[0] >> 6) & 0x03030303) << 4};
  const uint32_t m[2] = {u[1] & 0x3f3f3f3f, ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 6) & 0x03030303) << 4};
  std::memcpy(sc, s, 8);
  std::memcpy(mn, m, 8);
}

template <DType T>
float load1(const void* p, int64_t i) {
  if constexpr (T == DType::F32) return static_cast<const float*>(p)[i];
  else if constexpr (T == DType::F16) return fp16_to_f32(static_cast<const uint16_t*>(p)[i]);
  else return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
}

#if ISOMER_VEC_DOT_AVX2

// ---- AVX2: GGML's x86 kernels' arithmetic --------------------------------------------------

float h2f(uint16_t h) { return _cvtsh_ss(h); }
__m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
__m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
__m256i bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Per block 8 int32 lanes, converted to float and multiplied by the block's scale into one
// accumulator (FMA per lane), summed across lanes at the end: GGML's order.
using Lanes = __m256i;
struct Acc {
  __m256 v = _mm256_setzero_ps();
  void add(float d, Lanes s) { v = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), v); }
  float sum() const { return hsum(v); }
};

// Products of 32 byte pairs, u unsigned and y signed, summed by fours into int32 lanes (the
// 16-bit pair sums cannot saturate: |u| <= 128, |y| <= 127).
Lanes dot_u8(__m256i u, const int8_t* y) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, load256(y)), _mm256_set1_epi16(1));
}
// Both signed: the sign of a moves onto y.
Lanes dot_s8(__m256i a, const int8_t* y) {
  const __m256i v = load256(y);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(v, a)),
                           _mm256_set1_epi16(1));
}

// The 32 nibbles of a legacy block in element order: the low nibbles, then the high ones.
__m256i nibbles(const uint8_t* qs) {
  const __m128i v = load128(qs);
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), bytes(15));
}

// Bit i of the little-endian 32 bits at qh as byte i: 0xff where set, 0 where clear.
__m256i bits(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, 4);
  const __m256i spread = _mm256_shuffle_epi8(  // byte i <- byte i/8 of v
      _mm256_set1_epi32(static_cast<int>(v)),
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));  // 1 << i%8
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

Lanes idot(const BlockQ8_0& b, const int8_t* y) { return dot_s8(load256(b.qs), y); }
Lanes idot(const BlockQ4_0& b, const int8_t* y) {
  return dot_s8(_mm256_sub_epi8(nibbles(b.qs), bytes(8)), y);
}
Lanes idot(const BlockQ4_1& b, const int8_t* y) { return dot_u8(nibbles(b.qs), y); }
// q - 16 as a signed byte: the nibble with 0xf0 or-ed in where the fifth bit is clear.
Lanes idot(const BlockQ5_0& b, const int8_t* y) {
  return dot_s8(_mm256_or_si256(nibbles(b.qs), _mm256_andnot_si256(bits(b.qh), bytes(0xf0))), y);
}
Lanes idot(const BlockQ5_1& b, const int8_t* y) {
  return dot_u8(_mm256_or_si256(nibbles(b.qs), _mm256_and_si256(bits(b.qh), bytes(0x10))), y);
}

// Q4_K / Q5_K: sub-blocks 2c and 2c+1 are the low and high nibbles of qs[32c, 32c+32), each
// level sum weighted by its 6-bit scale (madd with the scale in every 16-bit lane).
template <class Block>
Lanes idot_k4(const Block& b, const int8_t* y, const uint8_t* sc) {
  [[maybe_unused]] __m256i high;  // Q5_K: qh[l] >> j holds the fifth bit of sub-block j at bit 0
  if constexpr (std::is_same_v<Block, BlockQ5_K>) high = load256(b.qh);
  auto fifth_bit = [&](__m256i& q) {
    if constexpr (std::is_same_v<Block, BlockQ5_K>) {
      q = _mm256_or_si256(q, _mm256_and_si256(_mm256_slli_epi16(high, 4), bytes(16)));
      high = _mm256_srli_epi16(high, 1);
    }
  };
  __m256i sum = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    const __m256i q = load256(b.qs + 32 * c);
    __m256i lo = _mm256_and_si256(q, bytes(15)), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), bytes(15));
    fifth_bit(lo);
    fifth_bit(hi);
    const __m256i plo = _mm256_maddubs_epi16(lo, load256(y + 64 * c));
    const __m256i phi = _mm256_maddubs_epi16(hi, load256(y + 64 * c + 32));
    sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * c])),
                                                 _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * c + 1]))));
  }
  return sum;
}

// Q6_K: in each half of 128, groups g of 32 elements (layout in quant_blocks.h), each two
// sub-blocks of 16 with int8 scales. (q - 32) * y = q * y - 32 * y keeps q unsigned for maddubs.
Lanes idot(const BlockQ6_K& b, const int8_t* y) {
  const __m128i scales = load128(b.scales);
  const __m256i m4 = bytes(15), m2 = bytes(0x30);
  __m256i sum = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h) {
    const __m256i l0 = load256(b.ql + 64 * h), l1 = load256(b.ql + 64 * h + 32);
    const __m256i qh = load256(b.qh + 32 * h);
    const __m256i q[4] = {
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)),
        _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2))};
    for (int g = 0; g < 4; ++g) {
      const __m256i v = load256(y + 128 * h + 32 * g);
      const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[g], v), _mm256_maddubs_epi16(bytes(32), v));
      // Scales of sub-blocks k and k+1: the two 128-bit halves of p.
      const int64_t k = 8 * h + 2 * g;
      const __m256i s = _mm256_cvtepi8_epi16(
          _mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101 * (k + 1), 0x0101010101010101 * k)));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(s, p));
    }
  }
  return sum;
}

// F32, F16, BF16: 8 floats at a time, four accumulators (GGML's step of 32), and the tail
// (all of a short row, such as an 8-wide attention head) added in double, as GGML does.
template <DType T>
__m256 load8(const void* p, int64_t i) {
  if constexpr (T == DType::F32) return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  const __m128i h = load128(static_cast<const uint16_t*>(p) + i);
  if constexpr (T == DType::F16) return _mm256_cvtph_ps(h);
  else return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <DType T>
float dot_plain(const void* w, const void* x, int64_t n) {
  __m256 acc[4] = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load8<T>(w, i + 8 * k), load8<T>(x, i + 8 * k), acc[k]);
  double sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3])));
  for (; i < n; ++i) sum += load1<T>(w, i) * load1<T>(x, i);
  return static_cast<float>(sum);
}

__m256 load8_f16(const uint16_t* p) { return _mm256_cvtph_ps(load128(p)); }
void store8_f16(uint16_t* p, __m256 v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

#else

// ---- Portable: the same integer sums, one block at a time -----------------------------------

float h2f(uint16_t h) { return fp16_to_f32(h); }

using Lanes = int;
struct Acc {
  float v = 0;
  void add(float d, Lanes s) { v += d * static_cast<float>(s); }
  float sum() const { return v; }
};

// Levels of the legacy blocks in element order (nibble j and j+16 share byte j; the fifth bit
// of element i is bit i of qh).
void nibbles(const uint8_t* qs, int* q) {
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = qs[j] & 15;
    q[j + kQK / 2] = qs[j] >> 4;
  }
}
void add_fifth_bits(const uint8_t* qh, int* q, int offset) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  for (int j = 0; j < kQK; ++j) q[j] += static_cast<int>(bits >> j & 1) * 16 - offset;
}
void levels(const BlockQ8_0& b, int* q) { std::copy_n(b.qs, kQK, q); }
void levels(const BlockQ4_0& b, int* q) {
  nibbles(b.qs, q);
  for (int j = 0; j < kQK; ++j) q[j] -= 8;
}
void levels(const BlockQ4_1& b, int* q) { nibbles(b.qs, q); }
void levels(const BlockQ5_0& b, int* q) {
  nibbles(b.qs, q);
  add_fifth_bits(b.qh, q, 16);
}
void levels(const BlockQ5_1& b, int* q) {
  nibbles(b.qs, q);
  add_fifth_bits(b.qh, q, 0);
}

template <class Block>
Lanes idot(const Block& b, const int8_t* y) {
  int q[kQK];
  levels(b, q);
  int sum = 0;
  for (int j = 0; j < kQK; ++j) sum += q[j] * y[j];
  return sum;
}

template <class Block>
Lanes idot_k4(const Block& b, const int8_t* y, const uint8_t* sc) {
  int sum = 0;
  for (int j = 0; j < 8; ++j) {
    int s = 0;
    for (int l = 0; l < 32; ++l) {
      int q = b.qs[32 * (j / 2) + l] >> (4 * (j % 2)) & 15;
      if constexpr (std::is_same_v<Block, BlockQ5_K>) q |= (b.qh[l] >> j & 1) << 4;
      s += q * y[32 * j + l];
    }
    sum += sc[j] * s;
  }
  return sum;
}

Lanes idot(const BlockQ6_K& b, const int8_t* y) {
  int sum = 0;
  for (int h = 0; h < 2; ++h)
    for (int g = 0; g < 4; ++g) {
      int s[2] = {0, 0};
      for (int l = 0; l < 32; ++l) {
        const int q = (b.ql[64 * h + 32 * (g % 2) + l] >> (4 * (g / 2)) & 15) |
                      (b.qh[32 * h + l] >> (2 * g) & 3) << 4;
        s[l / 16] += (q - 32) * y[128 * h + 32 * g + l];
      }
      sum += b.scales[8 * h + 2 * g] * s[0] + b.scales[8 * h + 2 * g + 1] * s[1];
    }
  return sum;
}

template <DType T>
float dot_plain(const void* w, const void* x, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double{load1<T>(w, i)} * load1<T>(x, i);
  return static_cast<float>(sum);
}

#endif

// ---- The float combination, shared ---------------------------------------------------------

template <class W>
float dot_blocks(const void* w_row, const void* x_act, int64_t n) {
  const auto* w = static_cast<const W*>(w_row);
  const int64_t nb = n / W::kElems;
  Acc acc;
  float mins = 0;  // the weight minimums' share, from the activation block sums, as GGML adds it
  if constexpr (kIsK4<W>) {
    const auto* a = static_cast<const BlockQ8_K*>(x_act);
    for (int64_t i = 0; i < nb; ++i) {
      uint8_t sc[8], mn[8];
      scales_k4(w[i].scales, sc, mn);
      int msum = 0;
      for (int j = 0; j < 8; ++j) msum += mn[j] * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
      acc.add(a[i].d * h2f(w[i].d), idot_k4(w[i], a[i].qs, sc));
      mins += -a[i].d * h2f(w[i].dmin) * static_cast<float>(msum);
    }
  } else if constexpr (std::is_same_v<W, BlockQ6_K>) {
    const auto* a = static_cast<const BlockQ8_K*>(x_act);
    for (int64_t i = 0; i < nb; ++i) acc.add(a[i].d * h2f(w[i].d), idot(w[i], a[i].qs));
  } else if constexpr (requires { w->m; }) {  // Q4_1, Q5_1: d * q + m
    const auto* a = static_cast<const BlockQ8_1*>(x_act);
    for (int64_t i = 0; i < nb; ++i) {
      acc.add(h2f(w[i].d) * h2f(a[i].d), idot(w[i], a[i].qs));
      mins += h2f(w[i].m) * h2f(a[i].s);
    }
  } else {
    const auto* a = static_cast<const BlockQ8_0*>(x_act);
    for (int64_t i = 0; i < nb; ++i) acc.add(h2f(w[i].d) * h2f(a[i].d), idot(w[i], a[i].qs));
  }
  return acc.sum() + mins;
}

template <class Block>
void quantize_blocks(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<Block*>(dst);
  for (int64_t i = 0; i < n / Block::kElems; ++i) quantize_q8(x + i * Block::kElems, b[i]);
}

}  // namespace

void mad_f16(uint16_t* y, const uint16_t* x, float v, int64_t n) {
  int64_t i = 0;
#if ISOMER_VEC_DOT_AVX2
  for (; i + 8 <= n; i += 8)
    store8_f16(y + i, _mm256_fmadd_ps(load8_f16(x + i), _mm256_set1_ps(v), load8_f16(y + i)));
#endif
  for (; i < n; ++i) y[i] = f32_to_fp16(std::fma(fp16_to_f32(x[i]), v, fp16_to_f32(y[i])));
}

void scale_f16(uint16_t* y, float v, int64_t n) {
  int64_t i = 0;
#if ISOMER_VEC_DOT_AVX2
  for (; i + 8 <= n; i += 8) store8_f16(y + i, _mm256_mul_ps(load8_f16(y + i), _mm256_set1_ps(v)));
#endif
  for (; i < n; ++i) y[i] = f32_to_fp16(fp16_to_f32(y[i]) * v);
}

DType activation_type(DType weight) {
  switch (weight) {
    case DType::F32:
    case DType::F16:
    case DType::BF16: return weight;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0: return DType::Q8_0;
    case DType::Q4_1:
    case DType::Q5_1: return DType::Q8_1;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return DType::Q8_K;
    default: fail("cpu: {} is not a weight type", dtype_name(weight));
  }
}

void quantize_activation(DType act, const float* x, void* dst, int64_t n) {
  row_bytes(act, n);  // validates n against the block size
  switch (act) {
    case DType::F32: std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_fp16(x[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(x[i]);
      return;
    case DType::Q8_0: return quantize_blocks<BlockQ8_0>(x, dst, n);
    case DType::Q8_1: return quantize_blocks<BlockQ8_1>(x, dst, n);
    case DType::Q8_K: return quantize_blocks<BlockQ8_K>(x, dst, n);
    default: fail("cpu: {} is not an activation type", dtype_name(act));
  }
}

VecDotFn vec_dot_fn(DType weight) {
  activation_type(weight);  // validates the type
  switch (weight) {
    case DType::F32: return dot_plain<DType::F32>;
    case DType::F16: return dot_plain<DType::F16>;
    case DType::BF16: return dot_plain<DType::BF16>;
    default: return visit_block(weight, []<class W>(W) -> VecDotFn { return dot_blocks<W>; });
  }
}

float vec_dot(DType weight, const void* w_row, const void* x_act, int64_t n) {
  row_bytes(weight, n);
  return vec_dot_fn(weight)(w_row, x_act, n);
}

}  // namespace isomer::cpu
