// AVX2/FMA/F16C kernels for weight rows, with a portable fallback on top of the reference
// dequantisation (ops/src/quant.cpp).
//
// Every block type is written once, as a decoder that turns a block into groups of 8 integer
// levels q (int32 lanes) with a scale d and optionally an offset m, the elements being d*q + m.
// Two sinks consume the groups: DotSink accumulates d * sum(q*x) + m * sum(x), DequantSink
// stores d*q + m rounded exactly as the reference code rounds it.
//
// With f32 activations the 4- to 6-bit types are bound by the SIMD pipes (unpacking, int->float
// conversion, FMA), not by memory; the decoders are written to keep that instruction count low.
#include "quant_dot.h"

#include <isomer/error.h>
#include <isomer/ops/quant_blocks.h>

#include <cstring>
#include <type_traits>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define ISOMER_CPU_AVX2 1
#endif

namespace isomer::cpu {

#if ISOMER_CPU_AVX2
// The decoders and sinks must inline into the row loops to keep the accumulators in registers.
#define ISOMER_INLINE [[gnu::always_inline]] inline

namespace {

using namespace quant;

float h2f(uint16_t h) { return _cvtsh_ss(h); }

float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__m128i loadu128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// 8 bytes widened to 8 int32 lanes, signed or unsigned. Decoders widen straight from the
// block (vpmovzxbd ymm, m64 runs twice as fast as its register form on Zen 3) and then
// extract the levels with 32-bit shifts and masks.
__m256i widen_i8(const void* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p))); }
__m256i widen_u8(const void* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p))); }

__m256i i32(int v) { return _mm256_set1_epi32(v); }
// Element j of v in all lanes.
__m256 lane(__m256 v, int j) { return _mm256_permutevar8x32_ps(v, i32(j)); }
__m256i low4(__m256i v) { return _mm256_and_si256(v, i32(15)); }

// Sinks take N groups of 8 levels (int32 lanes) for the elements from `at` on in the current
// block, with their scale d (and offset m) broadcast in a vector.
struct DotSink {
  const float* x;                      // the current block's activations
  __m256 acc = _mm256_setzero_ps();    // sum of d * sum(q*x)
  __m256 acc_m = _mm256_setzero_ps();  // sum of m * sum(x)

  template <int N>
  ISOMER_INLINE void add(int at, const __m256i (&q)[N], __m256 d) {
    const float* xs = x + at;
    __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(q[0]), _mm256_loadu_ps(xs));
    for (int k = 1; k < N; ++k) s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(q[k]), _mm256_loadu_ps(xs + 8 * k), s);
    acc = _mm256_fmadd_ps(d, s, acc);
  }

  template <int N>
  ISOMER_INLINE void add(int at, const __m256i (&q)[N], __m256 d, __m256 m) {
    __m256 sx = _mm256_loadu_ps(x + at);
    for (int k = 1; k < N; ++k) sx = _mm256_add_ps(sx, _mm256_loadu_ps(x + at + 8 * k));
    acc_m = _mm256_fmadd_ps(m, sx, acc_m);
    add(at, q, d);
  }
};

// Multiplies and adds separately (no FMA) to round exactly like the reference d*q + m.
struct DequantSink {
  float* y;  // the current block's output

  template <int N>
  ISOMER_INLINE void add(int at, const __m256i (&q)[N], __m256 d) {
    for (int k = 0; k < N; ++k) _mm256_storeu_ps(y + at + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q[k]), d));
  }

  template <int N>
  ISOMER_INLINE void add(int at, const __m256i (&q)[N], __m256 d, __m256 m) {
    for (int k = 0; k < N; ++k)
      _mm256_storeu_ps(y + at + 8 * k, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q[k]), d), m));
  }
};

// ---- Block decoders (layouts: isomer/ops/quant_blocks.h) -----------------------------------

template <class Sink>
ISOMER_INLINE void decode(const BlockQ8_0& b, Sink& s) {
  const __m256i q[4] = {widen_i8(b.qs), widen_i8(b.qs + 8), widen_i8(b.qs + 16), widen_i8(b.qs + 24)};
  s.add(0, q, _mm256_set1_ps(h2f(b.d)));
}

// The 32 nibbles of a legacy block in element order: low nibbles, then high nibbles.
ISOMER_INLINE void nibbles32(const uint8_t* qs, __m256i (&q)[4]) {
  const __m256i w0 = widen_u8(qs), w1 = widen_u8(qs + 8);
  q[0] = low4(w0);
  q[1] = low4(w1);
  q[2] = _mm256_srli_epi32(w0, 4);
  q[3] = _mm256_srli_epi32(w1, 4);
}

// The fifth bits of a Q5_0 / Q5_1 block (bit i of qh for element i): h[k] has the bit of
// element 8k + lane at bit 4 (value 16); its other bits are garbage.
ISOMER_INLINE void fifth_bits32(const uint8_t* qh, __m256i (&h)[4]) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  // Lane i holds qh >> i: bit 8k of it belongs to element 8k + i.
  const __m256i v = _mm256_srlv_epi32(i32(static_cast<int>(bits)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  h[0] = _mm256_slli_epi32(v, 4);
  h[1] = _mm256_srli_epi32(v, 4);
  h[2] = _mm256_srli_epi32(v, 12);
  h[3] = _mm256_srli_epi32(v, 20);
}

template <class Sink>
ISOMER_INLINE void decode(const BlockQ4_0& b, Sink& s) {
  __m256i q[4];
  nibbles32(b.qs, q);
  for (auto& v : q) v = _mm256_sub_epi32(v, i32(8));
  s.add(0, q, _mm256_set1_ps(h2f(b.d)));
}

template <class Sink>
ISOMER_INLINE void decode(const BlockQ4_1& b, Sink& s) {
  __m256i q[4];
  nibbles32(b.qs, q);
  s.add(0, q, _mm256_set1_ps(h2f(b.d)), _mm256_set1_ps(h2f(b.m)));
}

template <class Sink>
ISOMER_INLINE void decode(const BlockQ5_0& b, Sink& s) {
  __m256i q[4], h[4];
  nibbles32(b.qs, q);
  fifth_bits32(b.qh, h);
  for (int k = 0; k < 4; ++k) q[k] = _mm256_sub_epi32(q[k], _mm256_andnot_si256(h[k], i32(16)));  // q-16
  s.add(0, q, _mm256_set1_ps(h2f(b.d)));
}

template <class Sink>
ISOMER_INLINE void decode(const BlockQ5_1& b, Sink& s) {
  __m256i q[4], h[4];
  nibbles32(b.qs, q);
  fifth_bits32(b.qh, h);
  for (int k = 0; k < 4; ++k) q[k] = _mm256_or_si256(q[k], _mm256_and_si256(h[k], i32(16)));
  s.add(0, q, _mm256_set1_ps(h2f(b.d)), _mm256_set1_ps(h2f(b.m)));
}

// Q4_K and Q5_K: sub-blocks 2c and 2c+1 are the low and high nibbles of qs[32c, 32c+32);
// Q5_K's fifth bit of sub-block j is bit j of qh[l].
template <class Block, class Sink>
ISOMER_INLINE void decode_k4(const Block& b, Sink& s) {
  // Sub-block scales d*sc and offsets -dmin*m, computed 8 at once like the reference's floats.
  // The 6-bit values are gathered into bytes with 32-bit integer ops (as GGML's SIMD code does).
  uint32_t u[3];
  std::memcpy(u, b.scales, 12);
  const uint64_t sc = (u[0] & 0x3f3f3f3fu) | uint64_t((u[2] & 0x0f0f0f0fu) | ((u[0] >> 6) & 0x03030303u) << 4) << 32;
  const uint64_t mn = (u[1] & 0x3f3f3f3fu) | uint64_t(((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 6) & 0x03030303u) << 4) << 32;
  const __m256 ds = _mm256_mul_ps(_mm256_set1_ps(h2f(b.d)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<int64_t>(sc)))));
  const __m256 ms = _mm256_mul_ps(_mm256_set1_ps(-h2f(b.dmin)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<int64_t>(mn)))));
  // Q5_K: qh[l] << 4 per lane, shifted right once per sub-block to bring its bit to 16.
  [[maybe_unused]] __m256i high[4];
  if constexpr (requires { b.qh; })
    for (int k = 0; k < 4; ++k) high[k] = _mm256_slli_epi32(widen_u8(b.qh + 8 * k), 4);
  for (int c = 0; c < 4; ++c) {
    __m256i lo[4], hi[4];
    for (int k = 0; k < 4; ++k) {
      const __m256i w = widen_u8(b.qs + 32 * c + 8 * k);
      lo[k] = low4(w);
      hi[k] = _mm256_srli_epi32(w, 4);
      if constexpr (requires { b.qh; }) {
        lo[k] = _mm256_or_si256(lo[k], _mm256_and_si256(high[k], i32(16)));
        hi[k] = _mm256_or_si256(hi[k], _mm256_and_si256(_mm256_srli_epi32(high[k], 1), i32(16)));
        high[k] = _mm256_srli_epi32(high[k], 2);
      }
    }
    s.add(64 * c, lo, lane(ds, 2 * c), lane(ms, 2 * c));
    s.add(64 * c + 32, hi, lane(ds, 2 * c + 1), lane(ms, 2 * c + 1));
  }
}

template <class Sink>
ISOMER_INLINE void decode(const BlockQ4_K& b, Sink& s) { decode_k4(b, s); }
template <class Sink>
ISOMER_INLINE void decode(const BlockQ5_K& b, Sink& s) { decode_k4(b, s); }

// Q6_K: in each half of 128, byte l < 32 of ql holds elements l (low nibble) and l+64 (high),
// byte l+32 elements l+32 and l+96, and qh[l] their high bit pairs at bits 0, 2, 4 and 6.
// Lanes l in [16p, 16p+16) give one 16-element sub-block in each quarter of the half.
template <class Sink>
ISOMER_INLINE void decode(const BlockQ6_K& b, Sink& s) {
  const __m256 d = _mm256_set1_ps(h2f(b.d));
  const __m256 ds[2] = {_mm256_mul_ps(d, _mm256_cvtepi32_ps(widen_i8(b.scales))),
                        _mm256_mul_ps(d, _mm256_cvtepi32_ps(widen_i8(b.scales + 8)))};
  const __m256i mask = i32(0x30), offset = i32(32);
  for (int half = 0; half < 2; ++half)
    for (int p = 0; p < 2; ++p) {
      __m256i q[4][2];  // [quarter][8 lanes]
      for (int k = 0; k < 2; ++k) {
        const int l = 16 * p + 8 * k;
        const __m256i a = widen_u8(b.ql + 64 * half + l), c = widen_u8(b.ql + 64 * half + 32 + l);
        const __m256i h = widen_u8(b.qh + 32 * half + l);
        q[0][k] = _mm256_or_si256(low4(a), _mm256_and_si256(_mm256_slli_epi32(h, 4), mask));
        q[1][k] = _mm256_or_si256(low4(c), _mm256_and_si256(_mm256_slli_epi32(h, 2), mask));
        q[2][k] = _mm256_or_si256(_mm256_srli_epi32(a, 4), _mm256_and_si256(h, mask));
        q[3][k] = _mm256_or_si256(_mm256_srli_epi32(c, 4), _mm256_and_si256(_mm256_srli_epi32(h, 2), mask));
      }
      for (int i = 0; i < 4; ++i) {
        const __m256i qi[2] = {_mm256_sub_epi32(q[i][0], offset), _mm256_sub_epi32(q[i][1], offset)};
        s.add(128 * half + 32 * i + 16 * p, qi, lane(ds[half], 2 * i + p));
      }
    }
}

template <class Block>
float dot_blocks(const void* row, const float* x, int64_t n) {
  const auto* b = static_cast<const Block*>(row);
  const int64_t nb = n / Block::kElems;
  // Two sinks on alternate blocks: two independent accumulation chains.
  DotSink s0{x}, s1{x + Block::kElems};
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    decode(b[i], s0);
    decode(b[i + 1], s1);
    s0.x += 2 * Block::kElems;
    s1.x += 2 * Block::kElems;
  }
  if (i < nb) decode(b[i], s0);
  return hsum(_mm256_add_ps(_mm256_add_ps(s0.acc, s0.acc_m), _mm256_add_ps(s1.acc, s1.acc_m)));
}

template <class Block>
void dequantize_blocks(const void* row, float* y, int64_t n) {
  const auto* b = static_cast<const Block*>(row);
  DequantSink s{y};
  for (int64_t i = 0; i < n / Block::kElems; ++i, s.y += Block::kElems) decode(b[i], s);
}

// ---- Plain types: 8 elements at a time --------------------------------------------------

__m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__m256 load8(const uint16_t* p, DType type) {
  const __m128i h = loadu128(p);
  return type == DType::F16 ? _mm256_cvtph_ps(h)
                            : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <class T>
float dot_plain(const T* w, const float* x, int64_t n, DType type) {
  auto load = [&](int64_t i) {
    if constexpr (std::is_same_v<T, float>) return load8(w + i);
    else return load8(w + i, type);
  };
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load(i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  float tail[8];
  if (i < n) {
    dequantize_row(type, w + i, tail, n - i);
    for (int64_t k = 0; k < n - i; ++k) sum += tail[k] * x[i + k];
  }
  return sum;
}

}  // namespace

float dot_row(DType type, const void* row, const float* x, int64_t n) {
  row_bytes(type, n);  // validates n against the block size
  switch (type) {
    case DType::F32: return dot_plain(static_cast<const float*>(row), x, n, type);
    case DType::F16:
    case DType::BF16: return dot_plain(static_cast<const uint16_t*>(row), x, n, type);
    default:
      return quant::visit_block(type, [&]<class Block>(Block) { return dot_blocks<Block>(row, x, n); });
  }
}

void dequantize_row_fast(DType type, const void* row, float* y, int64_t n) {
  row_bytes(type, n);
  switch (type) {
    case DType::F32: std::memcpy(y, row, static_cast<size_t>(n) * 4); return;
    case DType::F16:
    case DType::BF16: {
      const auto* w = static_cast<const uint16_t*>(row);
      int64_t i = 0;
      for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load8(w + i, type));
      dequantize_row(type, w + i, y + i, n - i);
      return;
    }
    default:
      quant::visit_block(type, [&]<class Block>(Block) { dequantize_blocks<Block>(row, y, n); });
  }
}

#else  // portable fallback: reference dequantisation in chunks, accumulated in double

float dot_row(DType type, const void* row, const float* x, int64_t n) {
  row_bytes(type, n);  // validates n against the block size
  constexpr int64_t kChunk = 1024;  // a multiple of every block size
  const auto* bytes = static_cast<const uint8_t*>(row);
  float w[kChunk];
  double sum = 0;
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t len = n - i < kChunk ? n - i : kChunk;
    dequantize_row(type, bytes + row_bytes(type, i), w, len);
    for (int64_t k = 0; k < len; ++k) sum += static_cast<double>(w[k]) * x[i + k];
  }
  return static_cast<float>(sum);
}

void dequantize_row_fast(DType type, const void* row, float* y, int64_t n) {
  dequantize_row(type, row, y, n);
}

#endif

}  // namespace isomer::cpu
