// The HIP side of the shared kernels (backends/gpu/kernels.cu): wavefront size, shuffles,
// atomics and half conversions under vendor-neutral names. Nothing in the shared kernels
// depends on the vendor except through this header.
#pragma once

#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>

#include <cstdint>

// The wavefront: 64 lanes on CDNA (gfx90a, gfx94x), 32 on RDNA (gfx10xx, gfx11xx in wave32).
// The device compiler defines it per target; the host pass never runs device code, and any
// value serves there (kernels size shared memory for the smallest, 32).
#if defined(__AMDGCN_WAVEFRONT_SIZE)
#define GPU_WARP __AMDGCN_WAVEFRONT_SIZE
#else
#define GPU_WARP 64
#endif

__device__ __forceinline__ float gpu_shfl_xor(float v, int mask) { return __shfl_xor(v, mask, GPU_WARP); }
__device__ __forceinline__ float gpu_atomic_add(float* p, float v) { return atomicAdd(p, v); }
__device__ __forceinline__ float gpu_half_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint16_t gpu_float_to_half(float f) { return __half_as_ushort(__float2half_rn(f)); }

#define GPU_LAUNCH(kernel, grid, block, stream, ...) \
  hipLaunchKernelGGL(kernel, (grid), (block), 0, static_cast<hipStream_t>(stream), __VA_ARGS__)

// Matrix cores: the same 16 x 16 x 16 tile operation as the CUDA header (see there), here done
// by the wavefront's lanes in plain arithmetic, 256 / GPU_WARP outputs each. Debian's HIP 5.2
// has no rocWMMA, and its gfx1030 target has no matrix cores; an MFMA version for gfx90a /
// gfx94x would replace these three functions. GPU_MMA_NATIVE 0 tells the host to prefer the
// f32 tiled kernel (no f16 rounding of activations) where matrix cores would not help.
#define GPU_MMA_NATIVE 0
using gpu_half = __half;
__device__ __forceinline__ gpu_half gpu_half_from(float f) { return __float2half_rn(f); }
struct GpuMmaAcc {
  float v[256 / GPU_WARP];
};
__device__ __forceinline__ void gpu_mma_zero(GpuMmaAcc& c) {
  for (float& x : c.v) x = 0.0f;
}
__device__ __forceinline__ void gpu_mma(GpuMmaAcc& c, const gpu_half* a, int lda, const gpu_half* b, int ldb) {
  const int lane = threadIdx.x % GPU_WARP;
  for (int i = 0; i < 256 / GPU_WARP; ++i) {
    const int idx = lane + i * GPU_WARP, r = idx / 16, n = idx % 16;
    float s = c.v[i];
    for (int k = 0; k < 16; ++k) s += __half2float(a[r * lda + k]) * __half2float(b[n * ldb + k]);
    c.v[i] = s;
  }
}
__device__ __forceinline__ void gpu_mma_store(float* c, int ldc, const GpuMmaAcc& acc) {
  const int lane = threadIdx.x % GPU_WARP;
  for (int i = 0; i < 256 / GPU_WARP; ++i) {
    const int idx = lane + i * GPU_WARP;
    c[(idx / 16) * ldc + idx % 16] = acc.v[i];
  }
}
