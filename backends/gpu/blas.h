// The vendor BLAS (cuBLAS, hipBLAS), opened with dlopen at run time: an optional accelerator
// for prefill matrix products (--kernels vendor). When the library is missing, `vendor` is
// unavailable with the dlerror text; the portable kernels never need it.
#pragma once

#include <string>

#include "vendor_runtime.h"

namespace isomer::gpu {

class Blas {
 public:
  // The library's functions, or an empty object whose error() says why not.
  static const Blas& library();
  bool ok() const { return create_ != nullptr; }
  const std::string& error() const { return error_; }
  const std::string& description() const { return description_; }  // "cuBLAS 130001 (libcublas.so.13)"

  // A handle bound to `stream`; isomer::Error naming the status otherwise.
  void* create(gpuStream_t stream) const;
  void destroy(void* handle) const;
  // Column-major C[m, n] = op(A)[m, k] op(B)[k, n] (alpha 1, beta 0), as cublasSgemm.
  void sgemm(void* handle, int op_a, int op_b, int m, int n, int k, const float* a, int lda,
             const float* b, int ldb, float* c, int ldc) const;

 private:
  using Create = int (*)(void**);
  using Destroy = int (*)(void*);
  using SetStream = int (*)(void*, gpuStream_t);
  using SetMath = int (*)(void*, int);
  using Sgemm = int (*)(void*, int, int, int, int, int, const float*, const float*, int, const float*,
                        int, const float*, float*, int);
  Create create_ = nullptr;
  Destroy destroy_ = nullptr;
  SetStream set_stream_ = nullptr;
  SetMath set_math_ = nullptr;  // where the library has reduced-precision modes
  Sgemm sgemm_ = nullptr;
  std::string error_, description_;
};

}  // namespace isomer::gpu
