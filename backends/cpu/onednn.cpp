#include "onednn.h"

#include <isomer/error.h>
#include <omp.h>

#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

namespace isomer::cpu {
namespace {

using dnnl::memory;

// Weight rows per task: enough tasks to balance the pool on a shared machine, blocks wide
// enough for the GEMM to run at full speed; F16 / BF16 blocks at most about 4 MiB widened, so
// that they are still in cache when multiplied.
constexpr int64_t kTasksPerThread = 2, kBlockAlign = 16, kWidenedElements = int64_t{1} << 20;

}  // namespace

struct OneDnn::Engine {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
};

struct OneDnn::Primitive {
  dnnl::matmul matmul;
  memory::desc src, weights, dst, scratchpad;
};

OneDnn::OneDnn(int threads) : threads_(threads) {
  try {
    engine_ = std::make_unique<Engine>();
  } catch (const dnnl::error& e) {
    fail("oneDNN: cannot create a CPU engine: {}", e.what());
  }
}

OneDnn::~OneDnn() = default;

std::string OneDnn::version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("oneDNN {}.{}.{}", v->major, v->minor, v->patch);
}

bool OneDnn::takes(const TensorView& x, const TensorView& w) {
  const DType t = w.desc.type;
  return (t == DType::F32 || t == DType::F16 || t == DType::BF16) && x.desc.rows() > kMinRows;
}

const OneDnn::Primitive& OneDnn::primitive(int64_t rows, int64_t k, int64_t n, int64_t ldc) {
  const std::lock_guard lock(cache_mutex_);
  auto& slot = cache_[{rows, k, n, ldc}];
  if (slot) return *slot;
  try {
    // src [rows, k] row-major; weights [k, n] column-major, i.e. n rows of k values as isomer
    // stores them (y = x W^T needs no copy); dst [rows, n] with rows ldc floats apart.
    auto p = std::make_unique<Primitive>();
    p->src = memory::desc({rows, k}, memory::data_type::f32, memory::dims{k, 1});
    p->weights = memory::desc({k, n}, memory::data_type::f32, memory::dims{1, k});
    p->dst = memory::desc({rows, n}, memory::data_type::f32, memory::dims{ldc, 1});
    // The caller's scratchpad: tasks on several threads run the same primitive at once, and
    // the library's own scratchpad is shared unless oneDNN was built for concurrent execution.
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p->src, p->weights, p->dst), attr, engine_->engine);
    p->matmul = dnnl::matmul(pd);
    p->scratchpad = pd.scratchpad_desc();
    slot = std::move(p);
  } catch (const dnnl::error& e) {
    cache_.erase({rows, k, n, ldc});
    fail("oneDNN: no matmul for {} x {} times {} x {}: {}", rows, k, k, n, e.what());
  }
  return *slot;
}

void OneDnn::mat_mul(ThreadPool& pool, const TensorView& x, const TensorView& w, const TensorView& out) {
  const int64_t rows = x.desc.rows(), k = x.desc.cols(), m = w.desc.shape[0];
  const DType type = w.desc.type;
  const size_t w_stride = row_bytes(type, k);
  int64_t block = (m + threads_ * kTasksPerThread - 1) / (threads_ * kTasksPerThread);
  if (type != DType::F32) block = std::min(block, std::max<int64_t>(1, kWidenedElements / k));
  block = std::min(m, (block + kBlockAlign - 1) / kBlockAlign * kBlockAlign);
  pool.parallel_for((m + block - 1) / block, 1, [&](int64_t begin, int64_t end) {
    // Each pool thread's widened weight block and scratchpad, kept for its next product.
    thread_local std::vector<float> widened;
    thread_local std::vector<uint8_t> scratchpad;
    // The OpenMP thread count is per calling thread: this one runs oneDNN alone.
    omp_set_num_threads(1);
    dnnl::stream stream(engine_->engine);
    for (int64_t b = begin; b < end; ++b) {
      const int64_t j0 = b * block, n = std::min(block, m - j0);
      const uint8_t* wrows = w.as<const uint8_t>() + static_cast<size_t>(j0) * w_stride;
      const float* weights = reinterpret_cast<const float*>(wrows);
      if (type != DType::F32) {
        widened.resize(std::max(widened.size(), static_cast<size_t>(n * k)));
        for (int64_t j = 0; j < n; ++j) dequantize_row(type, wrows + j * w_stride, widened.data() + j * k, k);
        weights = widened.data();
      }
      const Primitive& p = primitive(rows, k, n, m);
      scratchpad.resize(std::max(scratchpad.size(), p.scratchpad.get_size()));
      try {
        p.matmul.execute(stream, {{DNNL_ARG_SRC, memory(p.src, engine_->engine, const_cast<float*>(x.as<const float>()))},
                                  {DNNL_ARG_WEIGHTS, memory(p.weights, engine_->engine, const_cast<float*>(weights))},
                                  {DNNL_ARG_DST, memory(p.dst, engine_->engine, out.as<float>() + j0)},
                                  {DNNL_ARG_SCRATCHPAD, memory(p.scratchpad, engine_->engine, scratchpad.data())}});
        stream.wait();
      } catch (const dnnl::error& e) {
        fail("oneDNN: matmul of {} x {} times {} x {} failed: {}", rows, k, k, n, e.what());
      }
    }
  });
}

}  // namespace isomer::cpu
