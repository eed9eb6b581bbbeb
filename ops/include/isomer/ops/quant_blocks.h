// GGML's quantised block layouts, byte for byte as GGUF files store them (little endian).
// Shared by the reference code (ops/src/quant.cpp) and the backends' fast kernels.
// A block of QK elements stores small integers q and one or more fp16 scales; each element
// decodes as d*q (symmetric types) or d*q + m / d*q - m (types with a minimum).
#pragma once

#include <isomer/error.h>
#include <isomer/ops/dtype.h>

#include <cstdint>

namespace isomer::quant {

inline constexpr int kQK = 32;    // elements per block of the legacy types
inline constexpr int kQK_K = 256; // elements per K-quant super-block

// Q8_0, 34 bytes: y[i] = d * qs[i].
struct BlockQ8_0 {
  static constexpr int kElems = kQK;
  uint16_t d;         // fp16 scale
  int8_t qs[kQK];
};

// Q4_0, 18 bytes: y[j] = d * ((qs[j] & 15) - 8), y[j+16] = d * ((qs[j] >> 4) - 8), j < 16.
struct BlockQ4_0 {
  static constexpr int kElems = kQK;
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// Q4_1, 20 bytes: as Q4_0 with unsigned nibbles plus a minimum: y = d * q + m.
struct BlockQ4_1 {
  static constexpr int kElems = kQK;
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};

// Q5_0, 22 bytes: as Q4_0 with a fifth bit per element: bit i of the little-endian 32-bit qh is
// the high bit of element i; y = d * (q - 16).
struct BlockQ5_0 {
  static constexpr int kElems = kQK;
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// Q5_1, 24 bytes: the Q5_0 bits, unsigned, plus a minimum: y = d * q + m.
struct BlockQ5_1 {
  static constexpr int kElems = kQK;
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// Q4_K, 144 bytes: 8 sub-blocks of 32, each with a 6-bit scale sc[j] and 6-bit min m[j]:
// y = d * sc[j] * q - dmin * m[j]. scales[12] packs them: for j < 4, sc[j] = scales[j] & 63 and
// m[j] = scales[j+4] & 63; for j >= 4, sc[j] = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4 and
// m[j] = (scales[j+4] >> 4) | (scales[j] >> 6) << 4. qs holds 4 chunks of 64 elements: byte l
// of chunk c has element 64c+l in its low nibble and element 64c+32+l in its high nibble.
struct BlockQ4_K {
  static constexpr int kElems = kQK_K;
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

// Q5_K, 176 bytes: Q4_K's scales and nibbles plus a fifth bit: bit 2c of qh[l] is the high bit
// of element 64c+l, bit 2c+1 that of element 64c+32+l (l < 32).
struct BlockQ5_K {
  static constexpr int kElems = kQK_K;
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// Q6_K, 210 bytes: 16 sub-blocks of 16 with int8 scales: y = d * scales[k/16] * (q - 32),
// q 6 bits. Two halves of 128 (ql 64 bytes, qh 32 bytes each); within a half, for l < 32:
// element l     = ql[l]    & 15 | (qh[l] >> 0 & 3) << 4,
// element l+32  = ql[l+32] & 15 | (qh[l] >> 2 & 3) << 4,
// element l+64  = ql[l]    >> 4 | (qh[l] >> 4 & 3) << 4,
// element l+96  = ql[l+32] >> 4 | (qh[l] >> 6 & 3) << 4.
struct BlockQ6_K {
  static constexpr int kElems = kQK_K;
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K block.
inline void k4_scale_min(const uint8_t* scales, int j, int& sc, int& m) {
  if (j < 4) {
    sc = scales[j] & 63;
    m = scales[j + 4] & 63;
  } else {
    sc = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4;
    m = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4;
  }
}

// Calls f(Block{}) with a value of the block struct of a quantised type (F16, F32, ... fail).
template <class F>
decltype(auto) visit_block(DType type, F&& f) {
  switch (type) {
    case DType::Q8_0: return f(BlockQ8_0{});
    case DType::Q4_0: return f(BlockQ4_0{});
    case DType::Q4_1: return f(BlockQ4_1{});
    case DType::Q5_0: return f(BlockQ5_0{});
    case DType::Q5_1: return f(BlockQ5_1{});
    case DType::Q4_K: return f(BlockQ4_K{});
    case DType::Q5_K: return f(BlockQ5_K{});
    case DType::Q6_K: return f(BlockQ6_K{});
    default: fail("{} is not a block-quantised type", dtype_name(type));
  }
}

}  // namespace isomer::quant
