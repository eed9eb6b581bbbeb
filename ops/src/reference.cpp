// Plain reference implementations: straightforward loops, f32 storage with double
// accumulation, no threads and no SIMD. Backends are tested against these.
#include <isomer/error.h>
#include <isomer/ops/norm.h>
#include <isomer/ops/op.h>
#include <isomer/ops/rope.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace isomer {
namespace {

// Dequantised copy of rows [0, rows) of a matrix of any type.
std::vector<float> to_f32(const TensorView& t, int64_t rows) {
  const int64_t cols = t.desc.cols();
  const size_t stride = row_bytes(t.desc.type, cols);
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    dequantize_row(t.desc.type, t.as<const uint8_t>() + r * stride, out.data() + r * cols, cols);
  return out;
}

double dot(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double{a[i]} * b[i];
  return s;
}

void get_rows(std::span<const TensorView> in, const TensorView& out) {
  const auto& table = in[0];
  const int64_t n = table.desc.shape[0], cols = table.desc.cols();
  const size_t stride = row_bytes(table.desc.type, cols);
  for (int64_t i = 0; i < out.desc.rows(); ++i) {
    const int32_t id = in[1].as<const int32_t>()[i];
    if (id < 0 || id >= n) fail("op get_rows: id {} outside the table of {} rows", id, n);
    dequantize_row(table.desc.type, table.as<const uint8_t>() + id * stride,
                   out.as<float>() + i * cols, cols);
  }
}

void rms_norm(const RmsNormParams& p, std::span<const TensorView> in, const TensorView& out) {
  const int64_t g = in[1].desc.elements();
  const int64_t groups = in[0].desc.elements() / g;
  const float* w = in[1].as<const float>();
  for (int64_t i = 0; i < groups; ++i) {
    const float* x = in[0].as<const float>() + i * g;
    float* y = out.as<float>() + i * g;
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum_of_squares(x, g) / g) + p.eps);
    for (int64_t j = 0; j < g; ++j) y[j] = x[j] * scale * w[j];
  }
}

void mat_mul(std::span<const TensorView> in, const TensorView& out) {
  const int64_t rows = in[0].desc.rows(), k = in[0].desc.cols(), m = in[1].desc.shape[0];
  const std::vector<float> w = to_f32(in[1], m);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < m; ++j)
      out.as<float>()[r * m + j] =
          static_cast<float>(dot(in[0].as<const float>() + r * k, w.data() + j * k, k));
}

// b has one row (added to every row of a) or as many as a. Row by row, not i % nb per element:
// the CPU backend runs this code, and the division was most of its time (qwen2's biases).
void add(std::span<const TensorView> in, const TensorView& out) {
  const int64_t n = out.desc.elements(), nb = in[1].desc.elements();
  const float *a = in[0].as<const float>(), *b = in[1].as<const float>();
  float* o = out.as<float>();
  for (int64_t i = 0; i < n; i += nb)
    for (int64_t j = 0; j < nb; ++j) o[i + j] = a[i + j] + b[j];
}

void swiglu(std::span<const TensorView> in, const TensorView& out) {
  const int64_t n = out.desc.elements();  // not in the loop's condition: it is a product over the shape
  for (int64_t i = 0; i < n; ++i) {
    const float g = in[0].as<const float>()[i];
    out.as<float>()[i] = g / (1.0f + std::exp(-g)) * in[1].as<const float>()[i];
  }
}

void rope(const RopeParams& p, std::span<const TensorView> in, const TensorView& out) {
  const int64_t rows = in[0].desc.rows(), cols = in[0].desc.cols();
  const float* factors = in.size() == 3 ? in[2].as<const float>() : nullptr;
  // Kept per thread: decode rotates q and k of every layer each token, and a fresh buffer was
  // two of its allocations a layer.
  thread_local std::vector<float> cs;
  cs.resize(static_cast<size_t>(p.n_rot));
  const int half = p.n_rot / 2;
  for (int64_t r = 0; r < rows; ++r) {
    rope_angles(p, in[1].as<const int32_t>()[r], factors, cs.data());
    for (int64_t h = 0; h < cols / p.head_dim; ++h) {
      const float* x = in[0].as<const float>() + r * cols + h * p.head_dim;
      float* y = out.as<float>() + r * cols + h * p.head_dim;
      for (int i = 0; i < half; ++i) {
        // Adjacent pairs (x[2i], x[2i+1]); half-split pairs (x[i], x[i + n_rot/2]).
        const int a = p.mode == RopeMode::Adjacent ? 2 * i : i;
        const int b = p.mode == RopeMode::Adjacent ? 2 * i + 1 : i + half;
        const float c = cs[2 * i], s = cs[2 * i + 1], x0 = x[a], x1 = x[b];
        y[a] = x0 * c - x1 * s;
        y[b] = x0 * s + x1 * c;
      }
      for (int i = p.n_rot; i < p.head_dim; ++i) y[i] = x[i];
    }
  }
}

void store_kv(const StoreKVParams& p, std::span<const TensorView> in, const TensorView& out) {
  const int64_t cols = in[0].desc.cols();
  const size_t stride = row_bytes(out.desc.type, cols);
  for (int64_t r = 0; r < in[0].desc.rows(); ++r)
    quantize_row(out.desc.type, in[0].as<const float>() + r * cols,
                 out.as<uint8_t>() + (p.first_row + r) * stride, cols);
}

void attention(const AttentionParams& p, std::span<const TensorView> in, const TensorView& out) {
  const int64_t rows = in[0].desc.rows(), n_kv = p.n_past + rows, d = p.head_dim;
  const int64_t kv_width = in[1].desc.cols();
  const std::vector<float> k = to_f32(in[1], n_kv), v = to_f32(in[2], n_kv);
  std::vector<double> w(static_cast<size_t>(n_kv));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t visible = p.n_past + r + 1;
    for (int h = 0; h < p.heads; ++h) {
      const int64_t kv_off = (h / (p.heads / p.kv_heads)) * d;
      const float* q = in[0].as<const float>() + r * p.heads * d + h * d;
      double max = -INFINITY, sum = 0;
      for (int64_t j = 0; j < visible; ++j) {
        w[j] = p.scale * dot(q, k.data() + j * kv_width + kv_off, d);
        max = std::max(max, w[j]);
      }
      for (int64_t j = 0; j < visible; ++j) sum += (w[j] = std::exp(w[j] - max));
      float* y = out.as<float>() + r * p.heads * d + h * d;
      for (int64_t i = 0; i < d; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < visible; ++j) acc += w[j] * v[j * kv_width + kv_off + i];
        y[i] = static_cast<float>(acc / sum);
      }
    }
  }
}

float yarn_corr_dim(int n_rot, int n_ctx_orig, float rotations, float base) {
  return n_rot * std::log(n_ctx_orig / (rotations * 2 * static_cast<float>(M_PI))) /
         (2 * std::log(base));
}

}  // namespace

double sum_of_squares(const float* x, int64_t n) {
  double s[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) s[l] += double{x[j + l]} * x[j + l];
  for (; j < n; ++j) s[j % 8] += double{x[j]} * x[j];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

void rope_angles(const RopeParams& p, int32_t position, const float* freq_factors, float* out) {
  const float theta_scale = std::pow(p.freq_base, -2.0f / p.n_rot);
  float low = 0, high = 0;
  if (p.ext_factor != 0.0f) {
    low = std::max(0.0f, std::floor(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_fast, p.freq_base)));
    high = std::min(p.n_rot - 1.0f,
                    std::ceil(yarn_corr_dim(p.n_rot, p.n_ctx_orig, p.beta_slow, p.freq_base)));
  }
  float theta_base = static_cast<float>(position);
  for (int i = 0; i < p.n_rot / 2; ++i) {
    const float extrap = theta_base / (freq_factors ? freq_factors[i] : 1.0f);
    const float interp = p.freq_scale * extrap;
    float theta = interp, mscale = p.attn_factor;
    if (p.ext_factor != 0.0f) {
      const float y = (i - low) / std::max(0.001f, high - low);
      const float ramp = (1 - std::min(1.0f, std::max(0.0f, y))) * p.ext_factor;
      theta = interp * (1 - ramp) + extrap * ramp;
      mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    }
    out[2 * i] = std::cos(theta) * mscale;
    out[2 * i + 1] = std::sin(theta) * mscale;
    theta_base *= theta_scale;
  }
}

void reference(const Op& op, std::span<const TensorView> in, const TensorView& out) {
  std::visit(
      [&](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, GetRowsParams>) get_rows(in, out);
        else if constexpr (std::is_same_v<P, RmsNormParams>) rms_norm(p, in, out);
        else if constexpr (std::is_same_v<P, MatMulParams>) mat_mul(in, out);
        else if constexpr (std::is_same_v<P, AddParams>) add(in, out);
        else if constexpr (std::is_same_v<P, SwiGluParams>) swiglu(in, out);
        else if constexpr (std::is_same_v<P, RopeParams>) rope(p, in, out);
        else if constexpr (std::is_same_v<P, StoreKVParams>) store_kv(p, in, out);
        else if constexpr (std::is_same_v<P, AttentionParams>) attention(p, in, out);
        else std::memcpy(out.data, in[0].data, out.desc.bytes());
      },
      op.params);
}

}  // namespace isomer
