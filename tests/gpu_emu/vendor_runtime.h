// The host side of the CPU "vendor" (see vendor_device.h): the runtime API over host memory,
// one device with a memory limit (so that out-of-memory paths run), streams that execute at
// once, and graph capture that records launches and copies and replays them.
#pragma once

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "vendor_device.h"

#define GPU_BACKEND_NAME "gpuemu"
#define GPU_VENDOR_API "EMU"
#define GPU_DRIVER_LIBRARY "none"
#define GPU_PREFIX "emu"

enum gpuError_t { gpuSuccess = 0, gpuErrorMemoryAllocation = 2, gpuErrorInvalidValue = 1, gpuErrorCapture = 900 };
using gpuStream_t = void*;
struct EmuGraph {
  std::vector<std::function<void()>> ops;
};
using gpuGraph_t = EmuGraph*;
using gpuGraphExec_t = EmuGraph*;
struct gpuDeviceProp {
  char name[64];
  size_t totalGlobalMem;
  int multiProcessorCount, warpSize, major, minor;
};
enum gpuMemcpyKind { gpuMemcpyHostToDevice, gpuMemcpyDeviceToHost, gpuMemcpyDeviceToDevice };
constexpr unsigned gpuStreamNonBlocking = 1;
constexpr int gpuStreamCaptureModeThreadLocal = 1;

namespace emu {
inline int& graph_launches() {
  static int n = 0;
  return n;
}
inline constexpr size_t kMemory = size_t{1} << 30;  // 1 GiB "device"
inline size_t& used() {
  static size_t u = 0;
  return u;
}
}  // namespace emu

inline const char* gpuGetErrorString(gpuError_t e) {
  switch (e) {
    case gpuSuccess: return "no error";
    case gpuErrorMemoryAllocation: return "out of memory";
    case gpuErrorCapture: return "operation not permitted when stream is capturing";
    default: return "invalid argument";
  }
}
inline const char* gpuGetErrorName(gpuError_t e) {
  switch (e) {
    case gpuSuccess: return "emuSuccess";
    case gpuErrorMemoryAllocation: return "emuErrorMemoryAllocation";
    case gpuErrorCapture: return "emuErrorStreamCaptureUnsupported";
    default: return "emuErrorInvalidValue";
  }
}
inline gpuError_t gpuGetLastError() { return gpuSuccess; }
inline gpuError_t gpuGetDeviceCount(int* n) { *n = 1; return gpuSuccess; }
inline gpuError_t gpuGetDeviceProperties(gpuDeviceProp* p, int) {
  std::strcpy(p->name, "isomer GPU emulator (CPU threads)");
  p->totalGlobalMem = emu::kMemory;
  p->multiProcessorCount = 1;
  p->warpSize = GPU_WARP;
  p->major = 0;
  p->minor = 0;
  return gpuSuccess;
}
inline gpuError_t gpuSetDevice(int) { return gpuSuccess; }
inline gpuError_t gpuDriverGetVersion(int* v) { *v = 1000; return gpuSuccess; }
inline gpuError_t gpuRuntimeGetVersion(int* v) { *v = 1000; return gpuSuccess; }
inline gpuError_t gpuMemGetInfo(size_t* free, size_t* total) {
  *total = emu::kMemory;
  *free = emu::kMemory - emu::used();
  return gpuSuccess;
}
inline gpuError_t gpuMalloc(void** p, size_t bytes) {
  if (bytes > emu::kMemory - emu::used()) return gpuErrorMemoryAllocation;
  auto* block = static_cast<size_t*>(std::aligned_alloc(256, (bytes + 256 + 255) / 256 * 256));
  if (!block) return gpuErrorMemoryAllocation;
  block[0] = bytes;
  emu::used() += bytes;
  *p = reinterpret_cast<uint8_t*>(block) + 256;
  return gpuSuccess;
}
inline gpuError_t gpuFree(void* p) {
  if (!p) return gpuSuccess;
  auto* block = reinterpret_cast<size_t*>(static_cast<uint8_t*>(p) - 256);
  emu::used() -= block[0];
  std::free(block);
  return gpuSuccess;
}
inline gpuError_t gpuMallocHost(void** p, size_t bytes) {
  *p = std::malloc(bytes);
  return *p ? gpuSuccess : gpuErrorMemoryAllocation;
}
inline gpuError_t gpuFreeHost(void* p) {
  std::free(p);
  return gpuSuccess;
}
inline gpuError_t gpuMemcpyAsync(void* dst, const void* src, size_t n, gpuMemcpyKind, gpuStream_t) {
  // Recorded copies read their source when replayed, as a graph's copy node does.
  emu::run_or_record([=] { std::memmove(dst, src, n); });
  return gpuSuccess;
}
inline gpuError_t gpuStreamCreateWithFlags(gpuStream_t* s, unsigned) {
  static int token;
  *s = &token;
  return gpuSuccess;
}
inline gpuError_t gpuStreamDestroy(gpuStream_t) { return gpuSuccess; }
inline gpuError_t gpuStreamSynchronize(gpuStream_t) {
  return emu::capture().on ? gpuErrorCapture : gpuSuccess;
}
inline gpuError_t gpuStreamBeginCapture(gpuStream_t, int) {
  emu::capture() = {true, {}};
  return gpuSuccess;
}
inline gpuError_t gpuStreamEndCapture(gpuStream_t, gpuGraph_t* g) {
  *g = new EmuGraph{std::move(emu::capture().ops)};
  emu::capture() = {};
  return gpuSuccess;
}
inline gpuError_t gpu_graph_instantiate(gpuGraphExec_t* exec, gpuGraph_t g) {
  *exec = new EmuGraph{g->ops};
  return gpuSuccess;
}
inline gpuError_t gpuGraphLaunch(gpuGraphExec_t exec, gpuStream_t) {
  for (auto& op : exec->ops) op();
  ++emu::graph_launches();
  return gpuSuccess;
}
inline gpuError_t gpuGraphDestroy(gpuGraph_t g) {
  delete g;
  return gpuSuccess;
}
inline gpuError_t gpuGraphExecDestroy(gpuGraphExec_t g) {
  delete g;
  return gpuSuccess;
}

inline std::string gpu_arch_name(const gpuDeviceProp&) { return "emu"; }
inline const char* gpu_vendor_name(const gpuDeviceProp&) { return "isomer tests"; }

inline constexpr const char* kGpuBlasName = "emuBLAS";
// Found only where LD_LIBRARY_PATH has tests/gpu-emu (the vendor-path test sets it).
inline constexpr const char* kGpuBlasLibraries[] = {"libisomer-emublas.so"};
// Small chunks, so that the tests' products are dequantised in several pieces.
inline constexpr long kGpuBlasChunkElements = 4096;
#define GPU_BLAS_CREATE "emublasCreate"
#define GPU_BLAS_DESTROY "emublasDestroy"
#define GPU_BLAS_SET_STREAM "emublasSetStream"
#define GPU_BLAS_SGEMM "emublasSgemm"
#define GPU_BLAS_GET_VERSION ""
#define GPU_BLAS_SET_MATH_MODE ""  // no reduced-precision mode to opt out of
inline constexpr int kGpuBlasExactMath = 0;
inline constexpr int kGpuBlasOpN = 0, kGpuBlasOpT = 1;
