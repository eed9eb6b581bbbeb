// The operator catalogue: what each op computes, its parameters and its shape rule. Every
// activation is a 2-D row-major f32 tensor [rows, cols]; per-head structure is carried in op
// parameters (head_dim, heads), so no op needs strided views. Backends implement these ops and
// are tested against the plain reference implementations in ops/src/reference.cpp.
#pragma once

#include <isomer/ops/dtype.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace isomer {

// A tensor's dimensions, outermost first; the last is contiguous. Held inline, at most
// kMaxDims (GGUF's limit): every step copies descriptors into its views, and as a heap vector
// each copy was an allocation (most of the 4,300 a token of qwen2.5-0.5b decode made, on the
// thread the others wait for).
class Shape {
 public:
  static constexpr size_t kMaxDims = 4;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : Shape(dims.begin(), dims.end()) {}
  template <std::input_iterator It>
  Shape(It first, It last) {
    for (; first != last; ++first) push_back(*first);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return dims_; }
  const int64_t* data() const { return dims_; }
  int64_t* begin() { return dims_; }
  int64_t* end() { return dims_ + size_; }
  const int64_t* begin() const { return dims_; }
  const int64_t* end() const { return dims_ + size_; }
  int64_t& operator[](size_t i) { return dims_[i]; }
  int64_t operator[](size_t i) const { return dims_[i]; }
  int64_t back() const { return dims_[size_ - 1]; }
  void push_back(int64_t d) {
    if (size_ == kMaxDims) too_many_dims();
    dims_[size_++] = d;
  }
  bool operator==(const Shape& o) const { return std::equal(begin(), end(), o.begin(), o.end()); }

 private:
  [[noreturn]] static void too_many_dims();
  int64_t dims_[kMaxDims] = {};
  uint8_t size_ = 0;
};

struct TensorDesc {
  DType type = DType::F32;
  Shape shape;

  int64_t elements() const;
  int64_t rows() const;  // product of all but the last dimension
  int64_t cols() const;  // last dimension
  size_t bytes() const;
  std::string to_string() const;  // e.g. "Q4_K[512, 256]"
  bool operator==(const TensorDesc&) const = default;
};

// How RoPE pairs the dimensions it rotates (llama.cpp's "normal" and "NeoX" modes).
enum class RopeMode { Adjacent, HalfSplit };

struct GetRowsParams {  // in: table [n, cols] of any dtype, ids I32 [k] -> f32 [k, cols]
  bool operator==(const GetRowsParams&) const = default;
};
struct RmsNormParams {    // in: x [rows, cols], weight f32 [g] with cols % g == 0
  float eps = 1e-5f;      // each group of g contiguous values is normalised, then scaled
  bool operator==(const RmsNormParams&) const = default;
};
struct MatMulParams {   // in: x f32 [rows, k], w [m, k] of any dtype -> [rows, m] = x w^T
  bool operator==(const MatMulParams&) const = default;
};
struct AddParams {      // in: a [rows, cols], b [rows, cols] or [cols] (broadcast)
  bool operator==(const AddParams&) const = default;
};
struct SwiGluParams {   // in: gate, up [rows, cols] -> silu(gate) * up
  bool operator==(const SwiGluParams&) const = default;
};
struct RopeParams {       // in: x [rows, heads * head_dim], positions I32 [rows],
  int head_dim = 0;       //     optional freq factors f32 [n_rot / 2]
  int n_rot = 0;          // rotated dimensions per head (the rest pass through)
  RopeMode mode = RopeMode::Adjacent;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;
  float ext_factor = 0.0f;   // YaRN extrapolation mix (0 = off)
  float attn_factor = 1.0f;  // YaRN magnitude scale
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int n_ctx_orig = 0;
  bool operator==(const RopeParams&) const = default;
};
struct StoreKVParams {  // in: new rows [rows, width], cache [n_ctx, width] -> the cache,
  int64_t first_row = 0;  // with rows written at first_row (in place, converted to its type)
  bool operator==(const StoreKVParams&) const = default;
};
struct AttentionParams {  // in: q [rows, heads * head_dim], k cache, v cache [n_ctx, kv_heads *
  int heads = 0;          //     head_dim] -> [rows, heads * head_dim]. Causal: query i sits at
  int kv_heads = 0;       //     position n_past + i and sees cache rows [0, n_past + i].
  int head_dim = 0;
  int64_t n_past = 0;
  float scale = 1.0f;
  bool operator==(const AttentionParams&) const = default;
};

struct CopyParams {  // in: x of any type -> the same bytes (moves a tensor between devices)
  bool operator==(const CopyParams&) const = default;
};

using OpParams = std::variant<GetRowsParams, RmsNormParams, MatMulParams, AddParams,
                              SwiGluParams, RopeParams, StoreKVParams, AttentionParams, CopyParams>;

enum class OpKind { GetRows, RmsNorm, MatMul, Add, SwiGlu, Rope, StoreKV, Attention, Copy };

struct Op {
  OpParams params;
  OpKind kind() const { return static_cast<OpKind>(params.index()); }
  std::string_view name() const;
  // The output description for these inputs; isomer::Error naming the op and the offending
  // input when the inputs do not fit the op.
  TensorDesc infer(std::span<const TensorDesc> inputs) const;
  // Index of the input the output aliases (ops that update state in place), or -1.
  int inplace_input() const;
  bool operator==(const Op&) const = default;
};

std::string_view op_name(OpKind kind);

// Host memory view of a contiguous tensor.
struct TensorView {
  TensorDesc desc;
  void* data = nullptr;
  template <class T> T* as() const { return static_cast<T*>(data); }
};

// Plain, single-threaded reference implementation of `op`. `out` may alias an input only as
// declared by inplace_input().
void reference(const Op& op, std::span<const TensorView> inputs, const TensorView& out);

}  // namespace isomer
