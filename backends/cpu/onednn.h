// The CPU backend's vendor path (--kernels vendor): prefill matrix products through oneDNN's
// matmul primitive, for the weight types it can take. Built only with oneDNN (ISOMER_DNNL); the
// portable kernels (kernels.h) stay the default and do everything else.
#pragma once

#include <isomer/ops/op.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "thread_pool.h"

namespace isomer::cpu {

class OneDnn {
 public:
  explicit OneDnn(int threads);
  ~OneDnn();

  // "oneDNN 2.6.3", for the device properties and reports.
  static std::string version();

  // Whether mat_mul below takes this product: F32, F16 and BF16 weights with more than
  // kMinRows activation rows. Quantised weights stay on isomer's kernels: oneDNN has no GGML
  // block formats (its int8 path wants per-tensor or per-channel scales, not one per 32 or 256
  // values), so it would have to dequantise every weight on every call.
  static bool takes(const TensorView& x, const TensorView& w);

  // y[rows, m] = x[rows, k] w[m, k]^T, on `pool`: each task multiplies x by a block of weight
  // rows with a single-threaded oneDNN call (oneDNN's own OpenMP team spun on the cores the
  // pool needs next: F16 prefill at 2 threads ran at 0.6x the portable kernels). F32 weights
  // are used in place (mmapped or not) as the column-major B matrix; F16 / BF16 weight blocks
  // are first widened to f32 in the task's buffer, because oneDNN 2.6 has f16 / bf16 matmul
  // only on AVX-512 machines.
  void mat_mul(ThreadPool& pool, const TensorView& x, const TensorView& w, const TensorView& out);

 private:
  // Decode (one row) and short prompts stay portable: a matrix-vector product gains nothing
  // from a GEMM, and for F16 / BF16 the widening would cost more than the product.
  static constexpr int64_t kMinRows = 8;

  struct Primitive;
  // Primitives, created once per shape (rows, k, n, ldc) and shared by the pool's tasks:
  // prefill sees a handful of shapes, and creating a primitive costs far more than a product.
  const Primitive& primitive(int64_t rows, int64_t k, int64_t n, int64_t ldc);

  struct Engine;
  std::unique_ptr<Engine> engine_;
  int threads_;
  std::mutex cache_mutex_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, std::unique_ptr<Primitive>> cache_;
};

}  // namespace isomer::cpu
