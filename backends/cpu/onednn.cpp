#include "onednn.h"

#include <isomer/error.h>
#include <omp.h>

#include <algorithm>
#include <oneapi/dnnl/dnnl.hpp>

namespace isomer::cpu {
namespace {

using dnnl::memory;

// Widened weight rows per oneDNN call for F16 / BF16: about 4 MiB of f32, enough for the GEMM
// to reach full speed, small enough to stay in the last-level cache between widening and use.
constexpr int64_t kPanelElements = int64_t{1} << 20;

}  // namespace

struct OneDnn::Engine {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

struct OneDnn::Primitive {
  dnnl::matmul matmul;
  memory src, weights, dst;
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

OneDnn::Primitive& OneDnn::primitive(int64_t rows, int64_t k, int64_t n, int64_t ldc) {
  auto& slot = cache_[{rows, k, n, ldc}];
  if (slot) return *slot;
  try {
    // src [rows, k] row-major; weights [k, n] column-major, i.e. n rows of k values as isomer
    // stores them (y = x W^T needs no copy); dst [rows, n] with rows ldc floats apart.
    const memory::desc src({rows, k}, memory::data_type::f32, memory::dims{k, 1});
    const memory::desc wei({k, n}, memory::data_type::f32, memory::dims{1, k});
    const memory::desc dst({rows, n}, memory::data_type::f32, memory::dims{ldc, 1});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), engine_->engine);
    auto p = std::make_unique<Primitive>();
    p->matmul = dnnl::matmul(pd);
    // Memory objects without a buffer: each call points them at its operands.
    p->src = memory(src, engine_->engine, nullptr);
    p->weights = memory(wei, engine_->engine, nullptr);
    p->dst = memory(dst, engine_->engine, nullptr);
    slot = std::move(p);
  } catch (const dnnl::error& e) {
    cache_.erase({rows, k, n, ldc});
    fail("oneDNN: no matmul for {} x {} times {} x {}: {}", rows, k, k, n, e.what());
  }
  return *slot;
}

void OneDnn::mat_mul(ThreadPool& pool, std::vector<float>& scratch, const TensorView& x, const TensorView& w,
                     const TensorView& out) {
  const int64_t rows = x.desc.rows(), k = x.desc.cols(), m = w.desc.shape[0];
  const DType type = w.desc.type;
  // oneDNN runs on its own (OpenMP) threads; the count is per calling thread, so it is set here.
  omp_set_num_threads(threads_);
  const int64_t panel = type == DType::F32 ? m : std::clamp<int64_t>(kPanelElements / k, 1, m);
  if (type != DType::F32) scratch.resize(std::max(scratch.size(), static_cast<size_t>(panel * k)));
  const size_t w_stride = row_bytes(type, k);
  for (int64_t j0 = 0; j0 < m; j0 += panel) {
    const int64_t n = std::min(panel, m - j0);
    const uint8_t* wrows = w.as<const uint8_t>() + static_cast<size_t>(j0) * w_stride;
    const float* b = reinterpret_cast<const float*>(wrows);
    if (type != DType::F32) {
      pool.parallel_for(n, 16, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) dequantize_row(type, wrows + j * w_stride, scratch.data() + j * k, k);
      });
      b = scratch.data();
    }
    Primitive& p = primitive(rows, k, n, m);
    p.src.set_data_handle(const_cast<float*>(x.as<const float>()));
    p.weights.set_data_handle(const_cast<float*>(b));
    p.dst.set_data_handle(out.as<float>() + j0);
    try {
      p.matmul.execute(engine_->stream, {{DNNL_ARG_SRC, p.src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_DST, p.dst}});
      engine_->stream.wait();
    } catch (const dnnl::error& e) {
      fail("oneDNN: matmul of {} x {} times {} x {} failed: {}", rows, k, k, n, e.what());
    }
  }
}

}  // namespace isomer::cpu
