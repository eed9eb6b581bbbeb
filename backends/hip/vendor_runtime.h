// The HIP side of the GPU backends' host code (backends/gpu/*.cpp): the runtime API under the
// vendor-neutral names the shared code uses. Compiled by the host C++ compiler against
// Debian's HIP headers; the module links libamdhip64.so.5 (there is no static HIP runtime), so
// on a machine without ROCm the module fails to load and the dlerror text says why.
#pragma once

#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_runtime_api.h>

#include <string>

#define GPU_BACKEND_NAME "hip"
#define GPU_VENDOR_API "HIP"
#define GPU_DRIVER_LIBRARY "/dev/kfd and libhsa-runtime64"  // what "no driver" means, for messages
#define GPU_PREFIX "hip"

using gpuError_t = hipError_t;
using gpuStream_t = hipStream_t;
using gpuGraph_t = hipGraph_t;
using gpuGraphExec_t = hipGraphExec_t;
using gpuDeviceProp = hipDeviceProp_t;
constexpr gpuError_t gpuSuccess = hipSuccess;

#define gpuGetErrorString hipGetErrorString
#define gpuGetErrorName hipGetErrorName
#define gpuGetLastError hipGetLastError
#define gpuGetDeviceCount hipGetDeviceCount
#define gpuGetDeviceProperties hipGetDeviceProperties
#define gpuSetDevice hipSetDevice
#define gpuDriverGetVersion hipDriverGetVersion
#define gpuRuntimeGetVersion hipRuntimeGetVersion
#define gpuMemGetInfo hipMemGetInfo
#define gpuMalloc hipMalloc
#define gpuFree hipFree
#define gpuMallocHost hipHostMalloc
#define gpuFreeHost hipHostFree
#define gpuMemcpyAsync hipMemcpyAsync
#define gpuMemsetAsync hipMemsetAsync
#define gpuMemcpyHostToDevice hipMemcpyHostToDevice
#define gpuMemcpyDeviceToHost hipMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define gpuStreamCreateWithFlags hipStreamCreateWithFlags
#define gpuStreamNonBlocking hipStreamNonBlocking
#define gpuStreamDestroy hipStreamDestroy
#define gpuStreamSynchronize hipStreamSynchronize
#define gpuStreamBeginCapture hipStreamBeginCapture
#define gpuStreamCaptureModeThreadLocal hipStreamCaptureModeThreadLocal
#define gpuStreamEndCapture hipStreamEndCapture
#define gpuGraphLaunch hipGraphLaunch
#define gpuGraphDestroy hipGraphDestroy
#define gpuGraphExecDestroy hipGraphExecDestroy

// The device's architecture as users name it: "gfx90a" (the name without feature flags).
inline std::string gpu_arch_name(const gpuDeviceProp& p) {
  std::string a = p.gcnArchName;
  return a.substr(0, a.find(':'));
}
inline const char* gpu_vendor_name(const gpuDeviceProp&) { return "AMD"; }

inline gpuError_t gpu_graph_instantiate(gpuGraphExec_t* exec, gpuGraph_t graph) {
  return hipGraphInstantiate(exec, graph, nullptr, nullptr, 0);  // HIP 5.x signature
}

// hipBLAS, opened at run time when present (Debian has no hipBLAS: "vendor" then says so).
inline constexpr const char* kGpuBlasName = "hipBLAS";
inline constexpr const char* kGpuBlasLibraries[] = {"libhipblas.so.2", "libhipblas.so.1", "libhipblas.so.0", "libhipblas.so"};
// Weights are dequantised to f32 for it in chunks of at most this many elements (64 MiB).
inline constexpr long kGpuBlasChunkElements = long{1} << 24;
#define GPU_BLAS_CREATE "hipblasCreate"
#define GPU_BLAS_DESTROY "hipblasDestroy"
#define GPU_BLAS_SET_STREAM "hipblasSetStream"
#define GPU_BLAS_SGEMM "hipblasSgemm"
#define GPU_BLAS_GET_VERSION ""
#define GPU_BLAS_SET_MATH_MODE ""  // no reduced-precision mode to opt out of
inline constexpr int kGpuBlasExactMath = 0;
inline constexpr int kGpuBlasOpN = 111, kGpuBlasOpT = 112;  // HIPBLAS_OP_N, HIPBLAS_OP_T
