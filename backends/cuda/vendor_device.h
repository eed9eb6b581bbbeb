// The CUDA side of the shared kernels (backends/gpu/kernels.cu): warp size, shuffles, atomics
// and half conversions under vendor-neutral names. Nothing in the shared kernels depends on the
// vendor except through this header.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cstdint>

// Threads that execute in lockstep and exchange values with shuffles: 32 on every NVIDIA GPU.
#define GPU_WARP 32

__device__ __forceinline__ float gpu_shfl_xor(float v, int mask) {
  return __shfl_xor_sync(0xffffffffu, v, mask, GPU_WARP);
}
__device__ __forceinline__ float gpu_atomic_add(float* p, float v) { return atomicAdd(p, v); }
__device__ __forceinline__ float gpu_half_to_float(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ uint16_t gpu_float_to_half(float f) { return __half_as_ushort(__float2half_rn(f)); }

// Launches kernel<<<grid, block, 0, stream>>>(args...).
#define GPU_LAUNCH(kernel, grid, block, stream, ...) \
  kernel<<<(grid), (block), 0, static_cast<cudaStream_t>(stream)>>>(__VA_ARGS__)

// Matrix cores: one warp computes a 16 x 16 f32 tile from f16 operands (WMMA; the modules are
// built for sm_80+, which all have tensor cores). c += a b with a row-major (element (r, k) at
// a[r * lda + k]) and b column-major (element (k, n) at b[n * ldb + k]), both in shared memory,
// 32-byte aligned, lda / ldb multiples of 8; the store wants ldc a multiple of 4.
#define GPU_MMA_NATIVE 1
using gpu_half = __half;
__device__ __forceinline__ gpu_half gpu_half_from(float f) { return __float2half_rn(f); }
struct GpuMmaAcc {
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> f;
};
__device__ __forceinline__ void gpu_mma_zero(GpuMmaAcc& c) { nvcuda::wmma::fill_fragment(c.f, 0.0f); }
__device__ __forceinline__ void gpu_mma(GpuMmaAcc& c, const gpu_half* a, int lda, const gpu_half* b, int ldb) {
  nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __half, nvcuda::wmma::row_major> fa;
  nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __half, nvcuda::wmma::col_major> fb;
  nvcuda::wmma::load_matrix_sync(fa, a, lda);
  nvcuda::wmma::load_matrix_sync(fb, b, ldb);
  nvcuda::wmma::mma_sync(c.f, fa, fb, c.f);
}
__device__ __forceinline__ void gpu_mma_store(float* c, int ldc, const GpuMmaAcc& acc) {
  nvcuda::wmma::store_matrix_sync(c, acc.f, ldc, nvcuda::wmma::mem_row_major);
}
