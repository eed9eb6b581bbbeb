#include "blas.h"

#include <isomer/error.h>

#include <dlfcn.h>

namespace isomer::gpu {

const Blas& Blas::library() {
  static const Blas lib = [] {
    Blas b;
    void* handle = nullptr;
    std::string tried, name;
    for (const char* lib_name : kGpuBlasLibraries) {
      handle = dlopen(lib_name, RTLD_NOW | RTLD_LOCAL);
      if (handle) {
        name = lib_name;
        break;
      }
      if (tried.empty()) tried = dlerror();  // the first (preferred) name's reason
    }
    if (!handle) {
      b.error_ = fmt::format("{} is not available: {}", kGpuBlasName, tried);
      return b;
    }
    const auto sym = [&](const char* s) { return *s ? dlsym(handle, s) : nullptr; };
    auto create = reinterpret_cast<Create>(sym(GPU_BLAS_CREATE));
    b.destroy_ = reinterpret_cast<Destroy>(sym(GPU_BLAS_DESTROY));
    b.set_stream_ = reinterpret_cast<SetStream>(sym(GPU_BLAS_SET_STREAM));
    b.sgemm_ = reinterpret_cast<Sgemm>(sym(GPU_BLAS_SGEMM));
    b.set_math_ = reinterpret_cast<SetMath>(sym(GPU_BLAS_SET_MATH_MODE));
    if (!create || !b.destroy_ || !b.set_stream_ || !b.sgemm_) {
      b.error_ = fmt::format("{} ({}) lacks {}, {}, {} or {}", kGpuBlasName, name, GPU_BLAS_CREATE,
                             GPU_BLAS_DESTROY, GPU_BLAS_SET_STREAM, GPU_BLAS_SGEMM);
      return b;
    }
    int version = 0;
    if (auto get_version = reinterpret_cast<int (*)(void*, int*)>(sym(GPU_BLAS_GET_VERSION))) {
      void* h = nullptr;
      if (create(&h) == 0) {
        get_version(h, &version);
        b.destroy_(h);
      }
    }
    b.create_ = create;
    b.description_ = version ? fmt::format("{} {} ({})", kGpuBlasName, version, name)
                             : fmt::format("{} ({})", kGpuBlasName, name);
    return b;
  }();
  return lib;
}

void* Blas::create(gpuStream_t stream) const {
  if (!ok()) fail("{}", error_);
  void* h = nullptr;
  if (const int st = create_(&h); st != 0) fail("{} handle creation failed (status {})", kGpuBlasName, st);
  if (const int st = set_stream_(h, stream); st != 0) {
    destroy_(h);
    fail("{}: setting the stream failed (status {})", kGpuBlasName, st);
  }
  if (set_math_) {
    if (const int st = set_math_(h, kGpuBlasExactMath); st != 0) {
      destroy_(h);
      fail("{}: setting exact single-precision math failed (status {})", kGpuBlasName, st);
    }
  }
  return h;
}

void Blas::destroy(void* handle) const {
  if (handle && destroy_) destroy_(handle);
}

void Blas::sgemm(void* handle, int op_a, int op_b, int m, int n, int k, const float* a, int lda,
                 const float* b, int ldb, float* c, int ldc) const {
  const float one = 1.0f, zero = 0.0f;
  if (const int st = sgemm_(handle, op_a, op_b, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc); st != 0)
    fail("{} sgemm ({} x {} x {}) failed (status {})", kGpuBlasName, m, n, k, st);
}

}  // namespace isomer::gpu
