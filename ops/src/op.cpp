// Shape rules of the operator catalogue.
#include <isomer/error.h>
#include <isomer/ops/op.h>

#include <fmt/ranges.h>

namespace isomer {

void Shape::too_many_dims() { fail("a tensor shape has more than {} dimensions", kMaxDims); }

int64_t TensorDesc::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}
int64_t TensorDesc::cols() const { return shape.empty() ? 1 : shape.back(); }
int64_t TensorDesc::rows() const { return cols() == 0 ? 0 : elements() / cols(); }
size_t TensorDesc::bytes() const { return row_bytes(type, cols()) * static_cast<size_t>(rows()); }
std::string TensorDesc::to_string() const {
  return fmt::format("{}[{}]", dtype_name(type), fmt::join(shape, ", "));
}

std::string_view op_name(OpKind kind) {
  switch (kind) {
    case OpKind::GetRows: return "get_rows";
    case OpKind::RmsNorm: return "rms_norm";
    case OpKind::MatMul: return "mul_mat";
    case OpKind::Add: return "add";
    case OpKind::SwiGlu: return "swiglu";
    case OpKind::Rope: return "rope";
    case OpKind::StoreKV: return "store_kv";
    case OpKind::Attention: return "attention";
    case OpKind::Copy: return "copy";
  }
  return "?";
}

std::string_view Op::name() const { return op_name(kind()); }

int Op::inplace_input() const { return kind() == OpKind::StoreKV ? 1 : -1; }

namespace {

struct Checker {
  const Op& op;
  std::span<const TensorDesc> in;

  template <class... Args>
  [[noreturn]] void error(fmt::format_string<Args...> f, Args&&... args) const {
    fail("op {}: {}", op.name(), fmt::format(f, std::forward<Args>(args)...));
  }
  void count(size_t n) const {
    if (in.size() != n) error("expects {} inputs, got {}", n, in.size());
  }
  const TensorDesc& matrix(size_t i, std::string_view what) const {
    if (in[i].shape.size() != 2) error("{} must be 2-D, got {}", what, in[i].to_string());
    return in[i];
  }
  const TensorDesc& f32(size_t i, std::string_view what) const {
    if (in[i].type != DType::F32) error("{} must be F32, got {}", what, in[i].to_string());
    return in[i];
  }
  void ids(size_t i, std::string_view what) const {
    if (in[i].type != DType::I32 || in[i].shape.size() != 1)
      error("{} must be a 1-D I32 tensor, got {}", what, in[i].to_string());
  }
};

TensorDesc f32_matrix(int64_t rows, int64_t cols) { return {DType::F32, {rows, cols}}; }

}  // namespace

TensorDesc Op::infer(std::span<const TensorDesc> inputs) const {
  const Checker c{*this, inputs};
  switch (kind()) {
    case OpKind::GetRows: {
      c.count(2);
      const auto& table = c.matrix(0, "table");
      c.ids(1, "ids");
      return f32_matrix(inputs[1].shape[0], table.cols());
    }
    case OpKind::RmsNorm: {
      c.count(2);
      const auto& x = c.f32(0, "x");
      c.f32(1, "weight");
      const int64_t g = inputs[1].elements();
      if (inputs[1].shape.size() != 1 || g == 0 || x.cols() % g != 0)
        c.error("weight {} must be 1-D and divide the row of x {}", inputs[1].to_string(),
                x.to_string());
      return x;
    }
    case OpKind::MatMul: {
      c.count(2);
      const auto& x = c.f32(0, "x");
      const auto& w = c.matrix(1, "weight");
      if (x.cols() != w.cols())
        c.error("inner dimensions differ: x {} and weight {}", x.to_string(), w.to_string());
      return f32_matrix(x.rows(), w.shape[0]);
    }
    case OpKind::Add: {
      c.count(2);
      const auto& a = c.f32(0, "a");
      const auto& b = c.f32(1, "b");
      if (b.cols() != a.cols() || (b.rows() != 1 && b.rows() != a.rows()))
        c.error("b {} neither matches nor broadcasts to a {}", b.to_string(), a.to_string());
      return a;
    }
    case OpKind::SwiGlu: {
      c.count(2);
      if (c.f32(0, "gate").shape != c.f32(1, "up").shape)
        c.error("gate {} and up {} differ", inputs[0].to_string(), inputs[1].to_string());
      return inputs[0];
    }
    case OpKind::Rope: {
      const auto& p = std::get<RopeParams>(params);
      if (inputs.size() != 2 && inputs.size() != 3) c.error("expects 2 or 3 inputs");
      const auto& x = c.f32(0, "x");
      c.ids(1, "positions");
      if (p.head_dim <= 0 || x.cols() % p.head_dim != 0)
        c.error("row of {} is not a whole number of heads of {}", x.to_string(), p.head_dim);
      if (p.n_rot <= 0 || p.n_rot > p.head_dim || p.n_rot % 2 != 0)
        c.error("n_rot {} must be even and within the head size {}", p.n_rot, p.head_dim);
      if (inputs[1].shape[0] != x.rows())
        c.error("{} positions for {} rows", inputs[1].shape[0], x.rows());
      if (inputs.size() == 3 && (c.f32(2, "freq factors").elements() != p.n_rot / 2))
        c.error("freq factors {} must hold n_rot / 2 = {} values", inputs[2].to_string(),
                p.n_rot / 2);
      return x;
    }
    case OpKind::StoreKV: {
      c.count(2);
      const auto& p = std::get<StoreKVParams>(params);
      const auto& src = c.f32(0, "new rows");
      const auto& cache = c.matrix(1, "cache");
      if (src.cols() != cache.cols() || p.first_row < 0 ||
          p.first_row + src.rows() > cache.shape[0])
        c.error("{} rows at {} do not fit the cache {}", src.to_string(), p.first_row,
                cache.to_string());
      return cache;
    }
    case OpKind::Attention: {
      c.count(3);
      const auto& p = std::get<AttentionParams>(params);
      const auto& q = c.f32(0, "q");
      const auto& k = c.matrix(1, "k cache");
      const auto& v = c.matrix(2, "v cache");
      if (p.heads <= 0 || p.kv_heads <= 0 || p.heads % p.kv_heads != 0 || p.head_dim <= 0)
        c.error("{} query heads cannot share {} KV heads", p.heads, p.kv_heads);
      if (q.cols() != int64_t{p.heads} * p.head_dim)
        c.error("q {} is not {} heads of {}", q.to_string(), p.heads, p.head_dim);
      if (k.shape != v.shape || k.cols() != int64_t{p.kv_heads} * p.head_dim)
        c.error("caches k {} and v {} are not {} heads of {}", k.to_string(), v.to_string(),
                p.kv_heads, p.head_dim);
      if (p.n_past < 0 || p.n_past + q.rows() > k.shape[0])
        c.error("{} past + {} new positions exceed the cache of {}", p.n_past, q.rows(),
                k.shape[0]);
      return q;
    }
    case OpKind::Copy:
      c.count(1);
      return inputs[0];
  }
  c.error("unknown op");
}

}  // namespace isomer
