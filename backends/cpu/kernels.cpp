#include "kernels.h"

#include <isomer/error.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant_dot.h"

namespace isomer::cpu {
namespace {

// Weight rows dequantised together when several activation rows share them: enough to reuse
// each activation row from L1 across rows, few enough that the block stays in L2.
constexpr int64_t kRowBlock = 16;
// Below this many activation rows, fused dequantise-and-dot per row is cheaper than
// dequantising into a scratch block.
constexpr int64_t kFusedMaxRows = 2;

}  // namespace

void mat_mul(ThreadPool& pool, const TensorView& x, const TensorView& w, const TensorView& out) {
  const int64_t rows = x.desc.rows(), k = x.desc.cols(), m = w.desc.shape[0];
  const DType type = w.desc.type;
  const size_t stride = row_bytes(type, k);
  const auto* wp = w.as<const uint8_t>();
  const float* xp = x.as<const float>();
  float* yp = out.as<float>();
  if (rows <= kFusedMaxRows) {
    pool.parallel_for(m, 16, [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j)
        for (int64_t r = 0; r < rows; ++r) yp[r * m + j] = dot_row(type, wp + j * stride, xp + r * k, k);
    });
    return;
  }
  const int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
  pool.parallel_for(blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(kRowBlock * k));
    for (int64_t b = begin; b < end; ++b) {
      const int64_t j0 = b * kRowBlock, nj = std::min(kRowBlock, m - j0);
      for (int64_t j = 0; j < nj; ++j)
        dequantize_row_fast(type, wp + (j0 + j) * stride, scratch.data() + j * k, k);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < nj; ++j)
          yp[r * m + j0 + j] = dot_row(DType::F32, scratch.data() + j * k, xp + r * k, k);
    }
  });
}

void attention(ThreadPool& pool, const AttentionParams& p, const TensorView& q,
               const TensorView& k, const TensorView& v, const TensorView& out) {
  const int64_t rows = q.desc.rows(), d = p.head_dim, kv_width = k.desc.cols();
  const size_t kv_stride = row_bytes(k.desc.type, kv_width);
  const size_t head_bytes = row_bytes(k.desc.type, d);
  const int group = p.heads / p.kv_heads;
  const auto* kp = k.as<const uint8_t>();
  const auto* vp = v.as<const uint8_t>();
  // One task per (query row, head): rows see different numbers of keys (causal), so many
  // small tasks balance better than one row per thread.
  pool.parallel_for(rows * p.heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(p.n_past + rows)), vrow(static_cast<size_t>(d));
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / p.heads;
      const int h = static_cast<int>(t % p.heads);
      const int64_t visible = p.n_past + r + 1;
      const size_t kv_off = static_cast<size_t>(h / group) * head_bytes;
      const float* qh = q.as<const float>() + r * p.heads * d + h * d;
      float max = -INFINITY;
      for (int64_t j = 0; j < visible; ++j) {
        scores[j] = p.scale * dot_row(k.desc.type, kp + j * kv_stride + kv_off, qh, d);
        max = std::max(max, scores[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < visible; ++j) sum += (scores[j] = std::exp(scores[j] - max));
      float* y = out.as<float>() + r * p.heads * d + h * d;
      std::fill(y, y + d, 0.0f);
      for (int64_t j = 0; j < visible; ++j) {
        dequantize_row_fast(v.desc.type, vp + j * kv_stride + kv_off, vrow.data(), d);
        const float w = scores[j];
        for (int64_t i = 0; i < d; ++i) y[i] += w * vrow[i];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < d; ++i) y[i] *= inv;
    }
  });
}

}  // namespace isomer::cpu
