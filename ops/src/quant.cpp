// Reference (de)quantisation: plain, portable code that reproduces GGML's reference
// quantize_row_*_ref / dequantize_row_* bit for bit, operation for operation. The block
// layouts are documented in isomer/ops/quant_blocks.h. Fast kernels live in the backends and
// are tested against this file.
//
// Bit-exactness needs every a*b+c rounded twice, as the C source says: ops/CMakeLists.txt
// builds this file with -ffp-contract=off.

#include <isomer/error.h>
#include <isomer/ops/dtype.h>
#include <isomer/ops/quant_blocks.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace isomer {

// ---- fp16 / bf16 ---------------------------------------------------------------------------

float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in f32
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31)  // inf, or NaN made quiet (as GGML's conversion and F16C do)
    return std::bit_cast<float>(sign | 0x7f800000 | mant << 13 | (mant ? 0x400000u : 0u));
  return std::bit_cast<float>(sign | (exp + 127 - 15) << 23 | mant << 13);
}

uint16_t f32_to_fp16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;      // NaN -> the canonical quiet NaN, like GGML
  if (abs >= 0x47800000) return sign | 0x7c00;     // >= 2^16 (or inf): overflows to inf
  if (abs < 0x38800000) {                          // below 2^-14: a subnormal half (or zero)
    // |f| * 2^24 is exact; rounding it to an integer (ties to even) gives the mantissa, and
    // 1024 correctly becomes the smallest normal half.
    return sign | static_cast<uint16_t>(std::nearbyint(std::fabs(f) * 0x1p24f));
  }
  const uint32_t exp = (abs >> 23) - 127 + 15;
  uint32_t h = exp << 10 | (abs >> 13 & 0x3ff);
  const uint32_t rest = abs & 0x1fff;  // the 13 dropped mantissa bits
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // ties to even; may carry into inf
  return sign | static_cast<uint16_t>(h);
}

float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>(bits >> 16 | 64);  // quiet NaN
  return static_cast<uint16_t>((bits + 0x7fff + (bits >> 16 & 1)) >> 16);  // ties to even
}

namespace {

using namespace quant;

// GGML's round-to-nearest (ties to even) through the float mantissa; valid for |x| < 2^22.
// Kept as GGML writes it so that out-of-range values come out the same as well.
int nearest_int(float x) {
  const int32_t i = std::bit_cast<int32_t>(x + 12582912.f);
  return (i & 0x007fffff) - 0x00400000;
}

float h2f(uint16_t h) { return fp16_to_f32(h); }

// ---- Legacy 32-element blocks --------------------------------------------------------------

// The value of largest magnitude, with its sign (the first one on ties).
float signed_absmax(const float* x) {
  float amax = 0, max = 0;
  for (int j = 0; j < kQK; ++j)
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  return max;
}

void minmax(const float* x, float& min, float& max) {
  min = std::numeric_limits<float>::max();
  max = -std::numeric_limits<float>::max();
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
}

void quantize(const float* x, BlockQ8_0& b) {
  float amax = 0;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  for (int j = 0; j < kQK; ++j) b.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
}

void dequantize(const BlockQ8_0& b, float* y) {
  const float d = h2f(b.d);
  for (int j = 0; j < kQK; ++j) y[j] = b.qs[j] * d;
}

void quantize(const float* x, BlockQ4_0& b) {
  const float d = signed_absmax(x) / -8;  // the extreme value maps to -8, using all 16 levels
  const float id = d != 0 ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  for (int j = 0; j < kQK / 2; ++j) {
    const int q0 = std::min(15, static_cast<int>(x[j] * id + 8.5f));
    const int q1 = std::min(15, static_cast<int>(x[j + kQK / 2] * id + 8.5f));
    b.qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
  }
}

void dequantize(const BlockQ4_0& b, float* y) {
  const float d = h2f(b.d);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = ((b.qs[j] & 15) - 8) * d;
    y[j + kQK / 2] = ((b.qs[j] >> 4) - 8) * d;
  }
}

void quantize(const float* x, BlockQ4_1& b) {
  float min, max;
  minmax(x, min, max);
  const float d = (max - min) / 15;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  b.m = f32_to_fp16(min);
  for (int j = 0; j < kQK / 2; ++j) {
    const int q0 = std::min(15, static_cast<int>((x[j] - min) * id + 0.5f));
    const int q1 = std::min(15, static_cast<int>((x[j + kQK / 2] - min) * id + 0.5f));
    b.qs[j] = static_cast<uint8_t>(q0 | q1 << 4);
  }
}

void dequantize(const BlockQ4_1& b, float* y) {
  const float d = h2f(b.d), m = h2f(b.m);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = (b.qs[j] & 15) * d + m;
    y[j + kQK / 2] = (b.qs[j] >> 4) * d + m;
  }
}

// Q5_0 / Q5_1 share the packing of 5-bit values: low nibbles in qs, fifth bits in qh.
template <class Block>
void pack5(const int* q, Block& b) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    b.qs[j] = static_cast<uint8_t>((q[j] & 15) | (q[j + kQK / 2] & 15) << 4);
    qh |= static_cast<uint32_t>(q[j] >> 4 & 1) << j;
    qh |= static_cast<uint32_t>(q[j + kQK / 2] >> 4 & 1) << (j + kQK / 2);
  }
  std::memcpy(b.qh, &qh, 4);
}

template <class Block>
void unpack5(const Block& b, int* q) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = (b.qs[j] & 15) | (qh >> j & 1) << 4;
    q[j + kQK / 2] = (b.qs[j] >> 4) | (qh >> (j + kQK / 2) & 1) << 4;
  }
}

void quantize(const float* x, BlockQ5_0& b) {
  const float d = signed_absmax(x) / -16;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  int q[kQK];
  for (int j = 0; j < kQK; ++j) q[j] = std::min(31, static_cast<int>(x[j] * id + 16.5f));
  pack5(q, b);
}

void dequantize(const BlockQ5_0& b, float* y) {
  const float d = h2f(b.d);
  int q[kQK];
  unpack5(b, q);
  for (int j = 0; j < kQK; ++j) y[j] = (q[j] - 16) * d;
}

void quantize(const float* x, BlockQ5_1& b) {
  float min, max;
  minmax(x, min, max);
  const float d = (max - min) / 31;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  b.d = f32_to_fp16(d);
  b.m = f32_to_fp16(min);
  int q[kQK];
  for (int j = 0; j < kQK; ++j) q[j] = static_cast<int>((x[j] - min) * id + 0.5f);
  pack5(q, b);
}

void dequantize(const BlockQ5_1& b, float* y) {
  const float d = h2f(b.d), m = h2f(b.m);
  int q[kQK];
  unpack5(b, q);
  for (int j = 0; j < kQK; ++j) y[j] = q[j] * d + m;
}

// ---- K-quants ------------------------------------------------------------------------------

// GGML's make_qkx2_quants (squared error): fits x[0..32) ~ scale * L - min with L in
// [0, nmax], min >= 0, trying nstep+1 candidate scales around nmax / (max - min) and keeping
// the weighted least-squares fit with the smallest weighted error. Returns the scale.
float make_qkx2_quants(int nmax, const float* x, const float* w, uint8_t* L, float& the_min,
                       float rmin, float rdelta, int nstep) {
  constexpr int n = 32;
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill_n(L, n, 0);
    the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * L[i] + min - x[i];
    best_error += w[i] * (diff * diff);
  }
  uint8_t Laux[n];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        cur_error += w[i] * (diff * diff);
      }
      if (cur_error < best_error) {
        std::copy_n(Laux, n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  the_min = -min;
  return scale;
}

// GGML's make_qx_quants with rmse_type 1 (weights x^2) and no importance weights: a signed
// fit x[0..16) ~ scale * (L - nmax), L in [0, 2*nmax), searching 19 scales. Returns the scale.
float make_qx_quants(int nmax, const float* x, int8_t* L) {
  constexpr int n = 16;
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  if (amax < 1e-15f) {  // GGML's GROUP_MAX_EPS: an all-zero group
    std::fill_n(L, n, 0);
    return 0.f;
  }
  // Sums of w*x*l and w*l*l for the levels that iscale gives, optionally storing the levels.
  auto fit = [&](float iscale, float& sumlx, float& suml2, bool store) {
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      if (store) L[i] = static_cast<int8_t>(l + nmax);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
  };
  float sumlx, suml2;
  fit(-nmax / max, sumlx, suml2, true);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -(nmax + 0.1f * is) / max;
    fit(iscale, sumlx, suml2, false);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      fit(iscale, sumlx, suml2, true);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q4_K and Q5_K: per 32-element sub-block a (scale, min) fit, then both quantised to 6 bits
// against the block's largest, and the elements requantised with the stored scales.
// Fills L (levels in [0, nmax]) and the block's d, dmin and scales.
template <class Block>
void quantize_k4_scales(const float* x, Block& b, int nmax, float rmin, int nstep, uint8_t* L) {
  float scales[8], mins[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    float weights[32];
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = make_qkx2_quants(nmax, xs, weights, L + 32 * j, mins[j], rmin, 0.1f, nstep);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    // GGML stores the rounded value in a uint8_t before clamping; keep the wrap-around.
    const int ls = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    const int lm = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      b.scales[j] = static_cast<uint8_t>(ls);
      b.scales[j + 4] = static_cast<uint8_t>(lm);
    } else {
      b.scales[j + 4] = static_cast<uint8_t>((ls & 15) | (lm & 15) << 4);
      b.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      b.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  b.d = f32_to_fp16(max_scale / 63.f);
  b.dmin = f32_to_fp16(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    k4_scale_min(b.scales, j, sc, m);
    const float d = h2f(b.d) * sc;
    if (d == 0) continue;
    const float dm = h2f(b.dmin) * m;
    for (int l = 0; l < 32; ++l)
      L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
  }
}

void quantize(const float* x, BlockQ4_K& b) {
  uint8_t L[kQK_K];
  quantize_k4_scales(x, b, 15, -1.f, 20, L);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      b.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | L[64 * c + 32 + l] << 4);
}

// Calls f(element index, sub-block scale, sub-block min, level) for every element of a Q4_K
// or Q5_K block, the shared decoding of their scales.
template <class Block, class F>
void for_each_k4(const Block& b, F f) {
  const float d = h2f(b.d), dmin = h2f(b.dmin);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    k4_scale_min(b.scales, j, sc, m);
    const float dj = d * sc, mj = dmin * m;
    for (int l = 0; l < 32; ++l) {
      const int c = j / 2, hi = j % 2;  // element 32j+l is nibble `hi` of qs[32c + l]
      int q = b.qs[32 * c + l] >> (4 * hi) & 15;
      if constexpr (requires { b.qh; }) q |= (b.qh[l] >> j & 1) << 4;
      f(32 * j + l, dj, mj, q);
    }
  }
}

void dequantize(const BlockQ4_K& b, float* y) {
  for_each_k4(b, [&](int i, float d, float m, int q) { y[i] = d * q - m; });
}

void quantize(const float* x, BlockQ5_K& b) {
  uint8_t L[kQK_K];
  quantize_k4_scales(x, b, 31, -0.5f, 15, L);
  std::fill_n(b.qh, sizeof b.qh, 0);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
      b.qs[32 * c + l] = static_cast<uint8_t>((lo & 15) | (hi & 15) << 4);
      b.qh[l] |= static_cast<uint8_t>((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
    }
}

void dequantize(const BlockQ5_K& b, float* y) {
  for_each_k4(b, [&](int i, float d, float m, int q) { y[i] = d * q - m; });
}

void quantize(const float* x, BlockQ6_K& b) {
  int8_t L[kQK_K];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int k = 0; k < 16; ++k) {
    scales[k] = make_qx_quants(32, x + 16 * k, L + 16 * k);
    if (std::fabs(scales[k]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[k]);
      max_scale = scales[k];
    }
  }
  std::memset(&b, 0, sizeof b);
  if (max_abs_scale < 1e-15f) return;  // all zero
  const float iscale = -128.f / max_scale;
  b.d = f32_to_fp16(1 / iscale);
  for (int k = 0; k < 16; ++k)
    b.scales[k] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[k])));
  for (int k = 0; k < 16; ++k) {
    const float d = h2f(b.d) * b.scales[k];
    if (d == 0) continue;
    for (int l = 0; l < 16; ++l)
      L[16 * k + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * k + l] / d), -32, 31) + 32);
  }
  for (int half = 0; half < 2; ++half) {
    uint8_t* ql = b.ql + 64 * half;
    uint8_t* qh = b.qh + 32 * half;
    const int8_t* q = L + 128 * half;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((q[l] & 15) | (q[l + 64] & 15) << 4);
      ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 15) | (q[l + 96] & 15) << 4);
      qh[l] = static_cast<uint8_t>(q[l] >> 4 | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 |
                                   (q[l + 96] >> 4) << 6);
    }
  }
}

void dequantize(const BlockQ6_K& b, float* y) {
  const float d = h2f(b.d);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    const int8_t* sc = b.scales + 8 * half;
    float* yh = y + 128 * half;
    for (int l = 0; l < 32; ++l) {
      const int q[4] = {(ql[l] & 15) | (qh[l] >> 0 & 3) << 4, (ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4,
                        (ql[l] >> 4) | (qh[l] >> 4 & 3) << 4, (ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4};
      for (int k = 0; k < 4; ++k) yh[l + 32 * k] = d * sc[l / 16 + 2 * k] * (q[k] - 32);
    }
  }
}

// ---- Row dispatch --------------------------------------------------------------------------

template <class Block>
void dequantize_blocks(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const Block*>(src);
  for (int64_t i = 0; i < n / Block::kElems; ++i) dequantize(blocks[i], dst + i * Block::kElems);
}

template <class Block>
void quantize_blocks(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<Block*>(dst);
  for (int64_t i = 0; i < n / Block::kElems; ++i) quantize(src + i * Block::kElems, blocks[i]);
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  row_bytes(type, n);  // validates n against the block size
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(static_cast<const uint16_t*>(src)[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
      return;
    default:
      visit_block(type, [&]<class Block>(Block) { dequantize_blocks<Block>(src, dst, n); });
  }
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  row_bytes(type, n);
  switch (type) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_fp16(src[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(src[i]);
      return;
    default:
      visit_block(type, [&]<class Block>(Block) { quantize_blocks<Block>(src, dst, n); });
  }
}

}  // namespace isomer
