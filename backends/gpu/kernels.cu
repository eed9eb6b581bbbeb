// Every op of the Llama / Qwen graphs as GPU kernels, written once for CUDA and HIP: the vendor
// header (backends/cuda/vendor_device.h or backends/hip/vendor_device.h, chosen by the include
// path) maps the warp / wavefront size, shuffles and half conversions. The arithmetic mirrors
// the Vulkan shaders (backends/vulkan/shaders), which are tested against the CPU backend and
// the llama.cpp fidelity references: the same dequantisation, the same Q8_K rounding of
// activations for K-quant weights, the same order of the attention's online softmax.
// Every kernel uses blocks of kBlock threads, a multiple of both warp sizes; nothing assumes
// a warp of 32.
#include "vendor_device.h"
#include "kernels.h"

namespace isomer::gpu {
namespace {

// ---- element access -----------------------------------------------------------------------
// Weights are addressed by byte (blocks of 18, 22, 34 ... bytes are not word aligned).

__device__ __forceinline__ uint32_t u16_at(const uint8_t* p) { return p[0] | uint32_t{p[1]} << 8; }
__device__ __forceinline__ float f16_at(const uint8_t* p) { return gpu_half_to_float(static_cast<uint16_t>(u16_at(p))); }
__device__ __forceinline__ float bf16_to_f32(uint32_t h) { return __uint_as_float(h << 16); }
__device__ __forceinline__ int i8_at(const uint8_t* p) { return static_cast<int8_t>(p[0]); }

// Round-to-nearest-even f32 -> bf16, NaN kept quiet (as GGML rounds it).
__device__ __forceinline__ uint16_t f32_to_bf16(float f) {
  const uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float f16_round(float v) { return gpu_half_to_float(gpu_float_to_half(v)); }

// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K block's 12 scale bytes.
__device__ __forceinline__ void k4_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
    m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
  }
}

// Element e of a weight row starting at `row`: layouts of ops/include/isomer/ops/quant_blocks.h,
// as backends/vulkan/shaders/dequant.glsl decodes them. The products decode 8 values at a time
// (part_values, below); get_rows keeps this per-element decode so that a warp writes
// consecutive floats: through part_values (a thread per 8 values), the dequantisation in front
// of cuBLAS cost H100 prefill of TinyLlama Q4_0 a quarter (7465 -> 5561 tok/s; the portable
// kernels 5524 -> 5189 on that machine). The conformance suite checks both decoders on every type.
template <int T>
__device__ __forceinline__ float wval(const uint8_t* row, int64_t e) {
  if constexpr (T == kF32) {
    return reinterpret_cast<const float*>(row)[e];  // the host checks 4-byte alignment
  } else if constexpr (T == kF16) {
    return gpu_half_to_float(reinterpret_cast<const uint16_t*>(row)[e]);
  } else if constexpr (T == kBF16) {
    return bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[e]);
  } else if constexpr (T == kQ8_0) {
    const uint8_t* b = row + (e / 32) * 34;
    return f16_at(b) * static_cast<float>(i8_at(b + 2 + e % 32));
  } else if constexpr (T == kQ4_0 || T == kQ4_1) {
    constexpr int size = T == kQ4_0 ? 18 : 20, qs = T == kQ4_0 ? 2 : 4;
    const uint8_t* b = row + (e / 32) * size;
    const int j = static_cast<int>(e % 32);
    int q = b[qs + (j & 15)];
    q = j < 16 ? q & 15 : q >> 4;
    if constexpr (T == kQ4_0) return f16_at(b) * (static_cast<float>(q) - 8.0f);
    else return f16_at(b) * static_cast<float>(q) + f16_at(b + 2);
  } else if constexpr (T == kQ5_0 || T == kQ5_1) {
    constexpr int size = T == kQ5_0 ? 22 : 24, qh = T == kQ5_0 ? 2 : 4;
    const uint8_t* b = row + (e / 32) * size;
    const int j = static_cast<int>(e % 32);
    int q = b[qh + 4 + (j & 15)];
    q = (j < 16 ? q & 15 : q >> 4) | ((b[qh + j / 8] >> (j % 8)) & 1) << 4;
    if constexpr (T == kQ5_0) return f16_at(b) * (static_cast<float>(q) - 16.0f);
    else return f16_at(b) * static_cast<float>(q) + f16_at(b + 2);
  } else if constexpr (T == kQ4_K || T == kQ5_K) {
    constexpr int size = T == kQ4_K ? 144 : 176, qs = T == kQ4_K ? 16 : 48;
    const uint8_t* b = row + (e / 256) * size;
    const int r = static_cast<int>(e % 256), c = r / 64, l = r % 64;
    int q = b[qs + 32 * c + (l & 31)];
    q = l < 32 ? q & 15 : q >> 4;
    if constexpr (T == kQ5_K) q |= ((b[16 + (l & 31)] >> (2 * c + l / 32)) & 1) << 4;
    int sc, m;
    k4_scale_min(b + 4, r / 32, sc, m);
    return f16_at(b) * static_cast<float>(sc) * static_cast<float>(q) - f16_at(b + 2) * static_cast<float>(m);
  } else {
    static_assert(T == kQ6_K, "no dequantisation for this type");
    const uint8_t* b = row + (e / 256) * 210;
    const int r = static_cast<int>(e % 256), h = r / 128, qd = (r % 128) / 32, l = r % 32;
    int ql = b[h * 64 + l + (qd & 1) * 32];
    ql = qd < 2 ? ql & 15 : ql >> 4;
    const int q = ql | ((b[128 + h * 32 + l] >> (2 * qd)) & 3) << 4;
    return f16_at(b + 208) * static_cast<float>(i8_at(b + 192 + r / 16)) * (static_cast<float>(q) - 32.0f);
  }
}

// ---- reductions ---------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
  for (int mask = GPU_WARP / 2; mask > 0; mask >>= 1) v += gpu_shfl_xor(v, mask);
  return v;
}

// Sum over the block (kBlock threads), returned to every thread.
__device__ float block_sum(float v) {
  __shared__ float part[kBlock / 32 + 1];  // one per warp, sized for the smallest warp
  constexpr int warps = kBlock / GPU_WARP;
  const int lane = threadIdx.x % GPU_WARP, wid = threadIdx.x / GPU_WARP;
  v = warp_sum(v);
  if (lane == 0) part[wid] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (int w = 0; w < warps; ++w) s += part[w];
    part[kBlock / 32] = s;
  }
  __syncthreads();
  const float s = part[kBlock / 32];
  __syncthreads();  // part may be reused by the caller's next call
  return s;
}

int64_t blocks_for(int64_t n) { return (n + kBlock - 1) / kBlock; }

// ---- matrix products ----------------------------------------------------------------------

// Eight consecutive bytes, byte j in bits 8j..8j+7: four 16-bit loads where p is even (every
// block layout keeps a part's bytes at even offsets of even-sized blocks), else byte loads.
__device__ __forceinline__ uint64_t bytes8(const uint8_t* p) {
  if ((reinterpret_cast<uintptr_t>(p) & 1) == 0) {
    const auto* h = reinterpret_cast<const uint16_t*>(p);
    return uint64_t{h[0]} | uint64_t{h[1]} << 16 | uint64_t{h[2]} << 32 | uint64_t{h[3]} << 48;
  }
  uint64_t v = 0;
#pragma unroll
  for (int j = 0; j < 8; ++j) v |= uint64_t{p[j]} << (8 * j);
  return v;
}
__device__ __forceinline__ int byte_of(uint64_t v, int j) { return static_cast<int>((v >> (8 * j)) & 255); }

// Weights 8s .. 8s + 7 of chunk c of a row (the chunk: elements 32c .. 32c + 31, one Q8_0 /
// Q4_0 / Q5_0 ... block, one 32-value sub-block of a K-quant super-block, or 32 plain values);
// `n` of them inside the row (F32, F16 and BF16 rows need not be a multiple of 32). The same
// values as wval<T>, computed in the same order, with the block's scales read once.
template <int T>
__device__ __forceinline__ void part_values(const uint8_t* row, int c, int s, int n, float w[8]) {
  const int l0 = 8 * s;  // first element of the part within its chunk
  if constexpr (T == kF32 || T == kF16 || T == kBF16) {
    const int64_t e0 = static_cast<int64_t>(c) * 32 + l0;
#pragma unroll
    for (int j = 0; j < 8; ++j) w[j] = j < n ? wval<T>(row, e0 + j) : 0.0f;
  } else if constexpr (T == kQ8_0) {
    const uint8_t* b = row + static_cast<int64_t>(c) * 34;
    const float d = f16_at(b);
    const uint64_t q = bytes8(b + 2 + l0);
#pragma unroll
    for (int j = 0; j < 8; ++j) w[j] = d * static_cast<float>(static_cast<int8_t>(byte_of(q, j)));
  } else if constexpr (T == kQ4_0 || T == kQ4_1 || T == kQ5_0 || T == kQ5_1) {
    constexpr bool five = T == kQ5_0 || T == kQ5_1, has_min = T == kQ4_1 || T == kQ5_1;
    constexpr int size = T == kQ4_0 ? 18 : T == kQ4_1 ? 20 : T == kQ5_0 ? 22 : 24;
    constexpr int qh = has_min ? 4 : 2, qs = qh + (five ? 4 : 0);
    constexpr float bias = five ? 16.0f : 8.0f;
    const uint8_t* b = row + static_cast<int64_t>(c) * size;
    const float d = f16_at(b), mn = has_min ? f16_at(b + 2) : 0.0f;
    uint32_t high = 0;
    if constexpr (five) high = u16_at(b + qh) | u16_at(b + qh + 2) << 16;
    const uint64_t qb = bytes8(b + qs + (l0 & 15));  // low nibbles for l0 < 16, else high
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int l = l0 + j, byte = byte_of(qb, j);
      int q = l < 16 ? byte & 15 : byte >> 4;
      if constexpr (five) q |= ((high >> l) & 1) << 4;
      w[j] = has_min ? d * static_cast<float>(q) + mn : d * (static_cast<float>(q) - bias);
    }
  } else if constexpr (T == kQ4_K || T == kQ5_K) {
    constexpr int size = T == kQ4_K ? 144 : 176, qs = T == kQ4_K ? 16 : 48;
    const int sub = c % 8;
    const uint8_t* b = row + static_cast<int64_t>(c / 8) * size;
    int sc, m;
    k4_scale_min(b + 4, sub, sc, m);
    const float ds = f16_at(b) * static_cast<float>(sc), dm = f16_at(b + 2) * static_cast<float>(m);
    const uint64_t qb = bytes8(b + qs + 32 * (sub / 2) + l0);
    uint64_t hb = 0;
    if constexpr (T == kQ5_K) hb = bytes8(b + 16 + l0);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      int v = sub % 2 ? byte_of(qb, j) >> 4 : byte_of(qb, j) & 15;
      if constexpr (T == kQ5_K) v |= ((byte_of(hb, j) >> sub) & 1) << 4;
      w[j] = ds * static_cast<float>(v) - dm;
    }
  } else {
    static_assert(T == kQ6_K, "no dequantisation for this type");
    const int sub = c % 8, h = sub / 4, qd = sub % 4;
    const uint8_t* b = row + static_cast<int64_t>(c / 8) * 210;
    // Each half of the chunk (16 values) has its own scale; a part lies in one half.
    const float sc = f16_at(b + 208) * static_cast<float>(i8_at(b + 192 + 2 * sub + l0 / 16));
    const uint64_t lb = bytes8(b + h * 64 + l0 + (qd & 1) * 32), hb = bytes8(b + 128 + h * 32 + l0);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int ql = qd < 2 ? byte_of(lb, j) & 15 : byte_of(lb, j) >> 4;
      const int v = ql | ((byte_of(hb, j) >> (2 * qd)) & 3) << 4;
      w[j] = sc * (static_cast<float>(v) - 32.0f);
    }
  }
}

// Eight activations at x (16-byte loads where x is 16-byte aligned and all 8 are in the row).
struct alignas(16) Float4 {
  float v[4];
};
__device__ __forceinline__ void load_x8(const float* x, int n, float out[8]) {
  if (n == 8 && (reinterpret_cast<uintptr_t>(x) & 15) == 0) {
    const Float4 a = reinterpret_cast<const Float4*>(x)[0], b = reinterpret_cast<const Float4*>(x)[1];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      out[j] = a.v[j];
      out[j + 4] = b.v[j];
    }
    return;
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) out[j] = j < n ? x[j] : 0.0f;
}

// Decode: kRowWarps warps per weight row, each thread taking 8-value parts of the row in
// turn (four parts to a 32-value chunk), so that a warp reads consecutive weight blocks and a
// contiguous stretch of x per load, and enough warps are in flight to hide memory latency.
// Each part is dequantised once for every row of x (up to kVecRows). The sums are folded by
// shuffles within a warp, then in order across the row's warps. Every warp runs the shuffles,
// also past the last row (the emulator's shuffles are block-wide barriers).
constexpr int kRowWarps = 4;
template <int T>
__global__ void __launch_bounds__(kBlock)
k_mul_mat_vec(const float* x, const uint8_t* w, float* y, int rows, int k, int m, int64_t w_stride) {
  constexpr int warps = kBlock / GPU_WARP, row_threads = kRowWarps * GPU_WARP;
  static_assert(warps % kRowWarps == 0, "whole rows per block");
  constexpr bool plain = T == kF32 || T == kF16 || T == kBF16;  // the others fill whole blocks
  __shared__ float part_sums[warps][kVecRows];
  const int wid = threadIdx.x / GPU_WARP, lane = threadIdx.x % GPU_WARP, tr = threadIdx.x % row_threads;
  const int j = blockIdx.x * (warps / kRowWarps) + wid / kRowWarps, r0 = blockIdx.y * kVecRows;
  const int nr = min(kVecRows, rows - r0), parts = (k + 31) / 32 * 4;
  const float* x0 = x + static_cast<int64_t>(r0) * k;
  float acc[kVecRows];
#pragma unroll
  for (int i = 0; i < kVecRows; ++i) acc[i] = 0.0f;
  if (j < m) {
    const uint8_t* row = w + j * w_stride;
    for (int p = tr; p < parts; p += row_threads) {
      const int e0 = p * 8, n = plain ? max(0, min(8, k - e0)) : 8;
      float wv[8];
      part_values<T>(row, p / 4, p % 4, n, wv);
#pragma unroll
      for (int i = 0; i < kVecRows; ++i) {
        if (i < nr) {
          float xv[8];
          load_x8(x0 + static_cast<int64_t>(i) * k + e0, n, xv);
          float s = 0.0f;
#pragma unroll
          for (int e = 0; e < 8; ++e) s += wv[e] * xv[e];
          acc[i] += s;
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kVecRows; ++i) {
    if (i < nr) {  // the same for the whole block
      const float v = warp_sum(acc[i]);
      if (lane == 0) part_sums[wid][i] = v;
    }
  }
  __syncthreads();
  if (tr < nr && j < m) {  // thread i of the row's first warp writes y for x row i
    const int first = wid / kRowWarps * kRowWarps;
    float v = 0.0f;
#pragma unroll
    for (int q = 0; q < kRowWarps; ++q) v += part_sums[first + q][tr];
    y[static_cast<int64_t>(r0 + tr) * m + j] = v;
  }
}

// One k-step of a prefill tile (rows r0.., weight rows j0.., elements k0 .. k0 + 31): thread t
// takes part t % 4 (8 values) of tile row t / 4, activations and dequantised weights, zero
// past the edges.
constexpr int kTile = 64, kTileK = 32;
template <int T>
__device__ __forceinline__ void tile_step(const float* x, const uint8_t* w, int rows, int k, int m, int64_t w_stride,
                                          int r0, int j0, int k0, float xv[8], float wv[8]) {
  static_assert(kTile * 4 == kBlock && kTileK == 32, "a thread per 8 values of the tile's rows");
  const int a = threadIdx.x / 4, part = threadIdx.x % 4, e0 = k0 + 8 * part, n = max(0, min(8, k - e0));
  const float* xr = x + static_cast<int64_t>(r0 + a) * k + e0;
#pragma unroll
  for (int jj = 0; jj < 8; ++jj) xv[jj] = r0 + a < rows && jj < n ? xr[jj] : 0.0f;
  if (j0 + a < m) {
    part_values<T>(w + (j0 + a) * w_stride, k0 / 32, part, n, wv);
  } else {
#pragma unroll
    for (int jj = 0; jj < 8; ++jj) wv[jj] = 0.0f;
  }
}

// Prefill: 64 x 64 output tiles, k in steps of 32 through shared memory (the weights
// dequantised to f32 on the way in); each thread computes 4 x 4 outputs.
template <int T>
__global__ void __launch_bounds__(kBlock)
k_mul_mat_tiled(const float* x, const uint8_t* w, float* y, int rows, int k, int m, int64_t w_stride) {
  __shared__ float xs[kTile][kTileK + 1];
  __shared__ float ws[kTile][kTileK + 1];
  const int t = threadIdx.x, tr = t / 16, tc = t % 16;
  const int r0 = blockIdx.y * kTile, j0 = blockIdx.x * kTile;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < k; k0 += kTileK) {
    {
      float xv[8], wv[8];
      tile_step<T>(x, w, rows, k, m, w_stride, r0, j0, k0, xv, wv);
#pragma unroll
      for (int jj = 0; jj < 8; ++jj) {
        xs[t / 4][t % 4 * 8 + jj] = xv[jj];
        ws[t / 4][t % 4 * 8 + jj] = wv[jj];
      }
    }
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        a[i] = xs[tr * 4 + i][kk];
        b[i] = ws[tc * 4 + i][kk];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) acc[i][jj] += a[i] * b[jj];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int jj = 0; jj < 4; ++jj) {
      const int r = r0 + tr * 4 + i, j = j0 + tc * 4 + jj;
      if (r < rows && j < m) y[static_cast<int64_t>(r) * m + j] = acc[i][jj];
    }
}

// Prefill on matrix cores: 64 x 64 output tiles as 16 tiles of 16 x 16, shared round robin by
// the block's warps (8 of 32 lanes or 4 of 64); x and the dequantised weights are rounded to
// f16 in shared memory (as llama.cpp's CUDA backend feeds cuBLAS / its MMA kernels), the sums
// kept in f32. The host uses it for F16 and block-quantised weights where GPU_MMA_NATIVE.
constexpr int kMmaLd = kTileK + 8;  // halves per shared row: a multiple of 8, rows 32-byte aligned
template <int T>
__global__ void __launch_bounds__(kBlock)
k_mul_mat_mma(const float* x, const uint8_t* w, float* y, int rows, int k, int m, int64_t w_stride) {
  __shared__ __align__(32) gpu_half xs[kTile * kMmaLd];
  __shared__ __align__(32) gpu_half ws[kTile * kMmaLd];
  __shared__ __align__(32) float cs[kTile * (kTile + 4)];
  constexpr int warps = kBlock / GPU_WARP, per_warp = 16 / warps;
  const int t = threadIdx.x, wid = t / GPU_WARP;
  const int r0 = blockIdx.y * kTile, j0 = blockIdx.x * kTile;
  GpuMmaAcc acc[per_warp];
#pragma unroll
  for (int i = 0; i < per_warp; ++i) gpu_mma_zero(acc[i]);
  for (int k0 = 0; k0 < k; k0 += kTileK) {
    {
      float xv[8], wv[8];
      tile_step<T>(x, w, rows, k, m, w_stride, r0, j0, k0, xv, wv);
#pragma unroll
      for (int jj = 0; jj < 8; ++jj) {
        xs[t / 4 * kMmaLd + t % 4 * 8 + jj] = gpu_half_from(xv[jj]);
        ws[t / 4 * kMmaLd + t % 4 * 8 + jj] = gpu_half_from(wv[jj]);
      }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < per_warp; ++i) {
      const int tile = wid + i * warps, tr = tile / 4, tn = tile % 4;
#pragma unroll
      for (int kk = 0; kk < kTileK; kk += 16)
        gpu_mma(acc[i], xs + tr * 16 * kMmaLd + kk, kMmaLd, ws + tn * 16 * kMmaLd + kk, kMmaLd);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < per_warp; ++i) {
    const int tile = wid + i * warps, tr = tile / 4, tn = tile % 4;
    gpu_mma_store(cs + tr * 16 * (kTile + 4) + tn * 16, kTile + 4, acc[i]);
  }
  __syncthreads();
  for (int i = t; i < kTile * kTile; i += kBlock) {
    const int a = i / kTile, b = i % kTile;
    if (r0 + a < rows && j0 + b < m) y[static_cast<int64_t>(r0 + a) * m + j0 + b] = cs[a * (kTile + 4) + b];
  }
}

// As quantize_q8k.comp: per 256 values the scale from the signed value of largest magnitude
// (the first on ties), q = min(127, round-even(-127 / max * x)), written as (1 / iscale) * q.
__global__ void __launch_bounds__(kBlock) k_quantize_q8k(const float* x, float* y, int64_t blocks) {
  static_assert(kBlock == 256, "one thread per value of a Q8_K block");
  __shared__ float amax[256];
  __shared__ int where[256];
  const int64_t blk = blockIdx.x;
  const int t = threadIdx.x;
  if (blk >= blocks) return;
  const int64_t i = blk * 256 + t;
  const float v = x[i];
  amax[t] = fabsf(v);
  where[t] = t;
  __syncthreads();
  for (int s = 128; s > 0; s >>= 1) {
    if (t < s && (amax[t + s] > amax[t] || (amax[t + s] == amax[t] && where[t + s] < where[t]))) {
      amax[t] = amax[t + s];
      where[t] = where[t + s];
    }
    __syncthreads();
  }
  if (amax[0] == 0.0f) {
    y[i] = 0.0f;
    return;
  }
  const float iscale = -127.0f / x[blk * 256 + where[0]];
  y[i] = (1.0f / iscale) * fminf(127.0f, rintf(iscale * v));
}

// ---- the other ops ------------------------------------------------------------------------

template <int T>
__global__ void __launch_bounds__(kBlock)
k_get_rows(const uint8_t* table, const int32_t* ids, float* out, int64_t n, int cols, int64_t stride,
           int64_t table_rows) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kBlock + threadIdx.x;
  if (idx >= n) return;
  const int64_t i = idx / cols, c = idx % cols;
  int64_t row = i;
  if (ids) row = min(max(static_cast<int64_t>(ids[i]), int64_t{0}), table_rows - 1);  // a bad id reads no further
  out[idx] = wval<T>(table + row * stride, c);
}

__global__ void __launch_bounds__(kBlock)
k_rms_norm(const float* x, const float* w, float* y, int g, float eps) {
  const int64_t x0 = static_cast<int64_t>(blockIdx.x) * g;
  float s = 0.0f;
  for (int i = threadIdx.x; i < g; i += kBlock) s += x[x0 + i] * x[x0 + i];
  s = block_sum(s);
  const float scale = 1.0f / sqrtf(s / static_cast<float>(g) + eps);
  for (int i = threadIdx.x; i < g; i += kBlock) y[x0 + i] = x[x0 + i] * scale * w[i];
}

__global__ void __launch_bounds__(kBlock) k_add(const float* a, const float* b, float* y, int64_t n, int64_t nb) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kBlock + threadIdx.x;
  if (i < n) y[i] = a[i] + b[i % nb];
}

__global__ void __launch_bounds__(kBlock) k_swiglu(const float* g, const float* u, float* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kBlock + threadIdx.x;
  if (i >= n) return;
  const float v = g[i];
  y[i] = v / (1.0f + expf(-v)) * u[i];
}

// As rope.comp: adjacent pairs (2k, 2k+1) or half-split pairs (k, k + n_rot/2).
__global__ void __launch_bounds__(kBlock)
k_rope(const float* x, const float* table, float* y, int64_t n, int cols, int head_dim, int n_rot,
       bool half_split) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kBlock + threadIdx.x;
  if (idx >= n) return;
  const int64_t r = idx / cols;
  const int c = static_cast<int>(idx % cols), i = c % head_dim, head = c - i;
  const float* x0 = x + r * cols + head;
  if (i >= n_rot) {
    y[idx] = x0[i];
    return;
  }
  const int half_rot = n_rot / 2;
  const int kp = half_split ? i % half_rot : i / 2;
  const int a = half_split ? kp : 2 * kp, b = half_split ? kp + half_rot : 2 * kp + 1;
  const float co = table[r * n_rot + 2 * kp], si = table[r * n_rot + 2 * kp + 1];
  const float xa = x0[a], xb = x0[b];
  y[idx] = i == a ? xa * co - xb * si : xa * si + xb * co;
}

template <int C>
__global__ void __launch_bounds__(kBlock)
k_store_kv(const float* src, void* cache, int64_t n, const int64_t* first_p) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kBlock + threadIdx.x;
  if (i >= n) return;
  const int64_t at = *first_p + i;
  if constexpr (C == kF32) static_cast<float*>(cache)[at] = src[i];
  else if constexpr (C == kF16) static_cast<uint16_t*>(cache)[at] = gpu_float_to_half(src[i]);
  else static_cast<uint16_t*>(cache)[at] = f32_to_bf16(src[i]);
}

template <int C>
__device__ __forceinline__ float cache_at(const uint8_t* base, int64_t e) {
  if constexpr (C == kF32) return reinterpret_cast<const float*>(base)[e];
  else if constexpr (C == kF16) return gpu_half_to_float(reinterpret_cast<const uint16_t*>(base)[e]);
  else return bf16_to_f32(reinterpret_cast<const uint16_t*>(base)[e]);
}

// The query as the CPU backend (and llama.cpp) uses it: rounded to a 16-bit cache's type.
template <int C>
__device__ __forceinline__ float round_query(float v) {
  if constexpr (C == kF16) return f16_round(v);
  else if constexpr (C == kBF16) return bf16_to_f32(f32_to_bf16(v));
  else return v;
}

// Causal attention with GQA, fused (flash style): one block per (query row, head); the keys
// in tiles of kBlock, each thread scoring one key of the tile into shared memory, then one
// thread per output dimension folding the tile's scores into its online softmax, key by key
// in order, exactly as attention.comp does (an F16 V cache's sums rounded to F16 after every
// key, as GGML's VKQ16). No score leaves the chip, so any context length fits.
template <int C>
__global__ void __launch_bounds__(kBlock)
k_attention(const float* q, const uint8_t* kc, const uint8_t* vc, float* out, int heads, int kv_heads,
            int d, int kv_width, const int64_t* n_past_p, float scale) {
  __shared__ float qs[kMaxHeadDim];
  __shared__ float sc[kBlock];
  const int wg = blockIdx.x, t = threadIdx.x;
  const int r = wg / heads, h = wg % heads;
  const int64_t visible = *n_past_p + r + 1;
  const int64_t kv_col = static_cast<int64_t>(h / (heads / kv_heads)) * d;
  const float* q0 = q + (static_cast<int64_t>(r) * heads + h) * d;
  for (int i = t; i < d; i += kBlock) qs[i] = round_query<C>(q0[i]);
  __syncthreads();
  float mx = __int_as_float(static_cast<int>(0xff800000u)), sum = 0.0f, acc = 0.0f;
  for (int64_t j0 = 0; j0 < visible; j0 += kBlock) {
    const int n = static_cast<int>(min(static_cast<int64_t>(kBlock), visible - j0));
    if (t < n) {
      const int64_t base = (j0 + t) * kv_width + kv_col;
      float dot = 0.0f;
      for (int i = 0; i < d; ++i) dot += qs[i] * cache_at<C>(kc, base + i);
      sc[t] = dot * scale;
    }
    __syncthreads();
    if (t < d) {
      for (int jj = 0; jj < n; ++jj) {
        const float s = sc[jj], v = cache_at<C>(vc, (j0 + jj) * kv_width + kv_col + t);
        float ms = 1.0f, vs = 1.0f;
        if (s > mx) {
          ms = expf(mx - s);
          mx = s;
        } else {
          vs = expf(s - mx);
        }
        if constexpr (C == kF16) {
          if (ms != 1.0f) acc = f16_round(acc * ms);
          acc = f16_round(fmaf(v, vs, acc));
        } else {
          acc = fmaf(v, vs, acc * ms);
        }
        sum = sum * ms + vs;
      }
    }
    __syncthreads();
  }
  if (t < d) out[(static_cast<int64_t>(r) * heads + h) * d + t] = acc * (1.0f / sum);
}

const uint8_t* bytes(const void* p) { return static_cast<const uint8_t*>(p); }

}  // namespace

// ---- launches -----------------------------------------------------------------------------
// One switch per typed kernel: 11 weight types x 3 kernels + 6 matrix-core ones, 3 cache types x 2 (no other
// template parameters, so the instantiations stay few and the compile short).
#define ISOMER_WEIGHT_TYPES(X) X(kF32) X(kF16) X(kBF16) X(kQ8_0) X(kQ4_0) X(kQ4_1) X(kQ5_0) X(kQ5_1) \
  X(kQ4_K) X(kQ5_K) X(kQ6_K)
// Matrix-core products: F16 and the legacy block types. F32 and BF16 keep the f32 tiled
// kernel (f16 would round their weights), and so do the K-quants: their activations are
// rounded to Q8_K first, and rounding those again to f16 took qwen2-syn-q4_k_m past its KL
// bar on an H100 (3.0e-3 against 2.5e-3; 1.3e-3 to 2.2e-3 through the tiled kernel).
#define ISOMER_MMA_TYPES(X) X(kF16) X(kQ8_0) X(kQ4_0) X(kQ4_1) X(kQ5_0) X(kQ5_1)
#define ISOMER_CACHE_TYPES(X) X(kF32) X(kF16) X(kBF16)

void mul_mat_vec(Stream s, int wtype, const float* x, const void* w, float* y, int rows, int k, int m,
                 int64_t w_stride) {
  if (rows <= 0 || m <= 0) return;
  constexpr int per_block = kBlock / GPU_WARP / kRowWarps;  // weight rows of a block
  const dim3 grid(static_cast<unsigned>((m + per_block - 1) / per_block), static_cast<unsigned>((rows + kVecRows - 1) / kVecRows));
  switch (wtype) {
#define CASE(T) \
  case T: GPU_LAUNCH(k_mul_mat_vec<T>, grid, dim3(kBlock), s, x, bytes(w), y, rows, k, m, w_stride); return;
    ISOMER_WEIGHT_TYPES(CASE)
#undef CASE
  }
}

void mul_mat_tiled(Stream s, int wtype, const float* x, const void* w, float* y, int rows, int k, int m,
                   int64_t w_stride) {
  if (rows <= 0 || m <= 0) return;
  const dim3 grid(static_cast<unsigned>((m + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile));
  switch (wtype) {
#define CASE(T) \
  case T: GPU_LAUNCH(k_mul_mat_tiled<T>, grid, dim3(kBlock), s, x, bytes(w), y, rows, k, m, w_stride); return;
    ISOMER_WEIGHT_TYPES(CASE)
#undef CASE
  }
}

bool has_matrix_cores() { return GPU_MMA_NATIVE != 0; }

bool mma_takes(int wtype) {
  switch (wtype) {
#define CASE(T) case T: return true;
    ISOMER_MMA_TYPES(CASE)
#undef CASE
    default: return false;
  }
}

void mul_mat_mma(Stream s, int wtype, const float* x, const void* w, float* y, int rows, int k, int m,
                 int64_t w_stride) {
  if (rows <= 0 || m <= 0) return;
  const dim3 grid(static_cast<unsigned>((m + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile));
  switch (wtype) {
#define CASE(T) \
  case T: GPU_LAUNCH(k_mul_mat_mma<T>, grid, dim3(kBlock), s, x, bytes(w), y, rows, k, m, w_stride); return;
    ISOMER_MMA_TYPES(CASE)
#undef CASE
  }
}

void quantize_q8k(Stream s, const float* x, float* y, int64_t blocks) {
  if (blocks <= 0) return;
  GPU_LAUNCH(k_quantize_q8k, dim3(static_cast<unsigned>(blocks)), dim3(kBlock), s, x, y, blocks);
}

void get_rows(Stream s, int wtype, const void* table, const int32_t* ids, float* out, int64_t n_rows,
              int cols, int64_t stride, int64_t table_rows) {
  const int64_t n = n_rows * cols;
  if (n <= 0) return;
  const dim3 grid(static_cast<unsigned>(blocks_for(n)));
  switch (wtype) {
#define CASE(T) \
  case T: GPU_LAUNCH(k_get_rows<T>, grid, dim3(kBlock), s, bytes(table), ids, out, n, cols, stride, table_rows); return;
    ISOMER_WEIGHT_TYPES(CASE)
#undef CASE
  }
}

void rms_norm(Stream s, const float* x, const float* w, float* y, int64_t groups, int g, float eps) {
  if (groups <= 0) return;
  GPU_LAUNCH(k_rms_norm, dim3(static_cast<unsigned>(groups)), dim3(kBlock), s, x, w, y, g, eps);
}

void add(Stream s, const float* a, const float* b, float* y, int64_t n, int64_t nb) {
  if (n <= 0) return;
  GPU_LAUNCH(k_add, dim3(static_cast<unsigned>(blocks_for(n))), dim3(kBlock), s, a, b, y, n, nb);
}

void swiglu(Stream s, const float* gate, const float* up, float* y, int64_t n) {
  if (n <= 0) return;
  GPU_LAUNCH(k_swiglu, dim3(static_cast<unsigned>(blocks_for(n))), dim3(kBlock), s, gate, up, y, n);
}

void rope(Stream s, const float* x, const float* table, float* y, int64_t n, int cols, int head_dim,
          int n_rot, bool half_split) {
  if (n <= 0) return;
  GPU_LAUNCH(k_rope, dim3(static_cast<unsigned>(blocks_for(n))), dim3(kBlock), s, x, table, y, n, cols,
             head_dim, n_rot, half_split);
}

void store_kv(Stream s, int ctype, const float* src, void* cache, int64_t n, const int64_t* first) {
  if (n <= 0) return;
  const dim3 grid(static_cast<unsigned>(blocks_for(n)));
  switch (ctype) {
#define CASE(C) \
  case C: GPU_LAUNCH(k_store_kv<C>, grid, dim3(kBlock), s, src, cache, n, first); return;
    ISOMER_CACHE_TYPES(CASE)
#undef CASE
  }
}

void attention(Stream s, int ctype, const float* q, const void* k, const void* v, float* out, int rows,
               int heads, int kv_heads, int head_dim, int kv_width, const int64_t* n_past, float scale) {
  if (rows <= 0 || heads <= 0) return;
  const dim3 grid(static_cast<unsigned>(rows * heads));
  switch (ctype) {
#define CASE(C)                                                                                      \
  case C: GPU_LAUNCH(k_attention<C>, grid, dim3(kBlock), s, q, bytes(k), bytes(v), out, heads, kv_heads, \
                     head_dim, kv_width, n_past, scale); return;
    ISOMER_CACHE_TYPES(CASE)
#undef CASE
  }
}

}  // namespace isomer::gpu
