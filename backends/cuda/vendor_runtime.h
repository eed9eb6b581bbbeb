// The CUDA side of the GPU backends' host code (backends/gpu/*.cpp): the runtime API under the
// vendor-neutral names the shared code uses. Compiled by the host C++ compiler; the CUDA
// runtime is linked statically into the module (libcudart_static), so only the driver
// (libcuda.so.1) is needed at run time.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#define GPU_BACKEND_NAME "cuda"
#define GPU_VENDOR_API "CUDA"
#define GPU_DRIVER_LIBRARY "libcuda.so.1"  // what "no driver" means, for messages
#define GPU_PREFIX "cuda"  // of the runtime function names in messages: cudaMalloc ...

using gpuError_t = cudaError_t;
using gpuStream_t = cudaStream_t;
using gpuGraph_t = cudaGraph_t;
using gpuGraphExec_t = cudaGraphExec_t;
using gpuDeviceProp = cudaDeviceProp;
constexpr gpuError_t gpuSuccess = cudaSuccess;

#define gpuGetErrorString cudaGetErrorString
#define gpuGetErrorName cudaGetErrorName
#define gpuGetLastError cudaGetLastError
#define gpuGetDeviceCount cudaGetDeviceCount
#define gpuGetDeviceProperties cudaGetDeviceProperties
#define gpuSetDevice cudaSetDevice
#define gpuDriverGetVersion cudaDriverGetVersion
#define gpuRuntimeGetVersion cudaRuntimeGetVersion
#define gpuMemGetInfo cudaMemGetInfo
#define gpuMalloc cudaMalloc
#define gpuFree cudaFree
#define gpuMallocHost cudaMallocHost
#define gpuFreeHost cudaFreeHost
#define gpuMemcpyAsync cudaMemcpyAsync
#define gpuMemsetAsync cudaMemsetAsync
#define gpuMemcpyHostToDevice cudaMemcpyHostToDevice
#define gpuMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define gpuStreamCreateWithFlags cudaStreamCreateWithFlags
#define gpuStreamNonBlocking cudaStreamNonBlocking
#define gpuStreamDestroy cudaStreamDestroy
#define gpuStreamSynchronize cudaStreamSynchronize
#define gpuStreamBeginCapture cudaStreamBeginCapture
#define gpuStreamCaptureModeThreadLocal cudaStreamCaptureModeThreadLocal
#define gpuStreamEndCapture cudaStreamEndCapture
#define gpuGraphLaunch cudaGraphLaunch
#define gpuGraphDestroy cudaGraphDestroy
#define gpuGraphExecDestroy cudaGraphExecDestroy

// The device's architecture as users name it: "sm_90".
inline std::string gpu_arch_name(const gpuDeviceProp& p) {
  return "sm_" + std::to_string(p.major) + std::to_string(p.minor);
}
inline const char* gpu_vendor_name(const gpuDeviceProp&) { return "NVIDIA"; }

inline gpuError_t gpu_graph_instantiate(gpuGraphExec_t* exec, gpuGraph_t graph) {
  return cudaGraphInstantiate(exec, graph, 0);  // CUDA 12+ signature
}

// The vendor BLAS, opened at run time (dlopen): library names, entry points and constants
// for y = x w^T in single precision (status 0 = success).
inline constexpr const char* kGpuBlasName = "cuBLAS";
inline constexpr const char* kGpuBlasLibraries[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
// Weights are dequantised to f32 for it in chunks of at most this many elements (64 MiB).
inline constexpr long kGpuBlasChunkElements = long{1} << 24;
#define GPU_BLAS_CREATE "cublasCreate_v2"
#define GPU_BLAS_DESTROY "cublasDestroy_v2"
#define GPU_BLAS_SET_STREAM "cublasSetStream_v2"
#define GPU_BLAS_SGEMM "cublasSgemm_v2"
#define GPU_BLAS_GET_VERSION "cublasGetVersion_v2"
// Single precision kept exact (CUBLAS_PEDANTIC_MATH): no TF32 or other reduced-precision
// shortcut, so that the vendor path gives the same answer as the portable one.
#define GPU_BLAS_SET_MATH_MODE "cublasSetMathMode"
inline constexpr int kGpuBlasExactMath = 2;
inline constexpr int kGpuBlasOpN = 0, kGpuBlasOpT = 1;  // CUBLAS_OP_N, CUBLAS_OP_T
