// The CPU backend's own kernels for the ops where time goes (matrix products, attention,
// SwiGLU's exponentials, the KV cache's conversions).
// Other ops run the ops/ reference code on row ranges, in parallel.
#pragma once

#include <isomer/ops/op.h>

#include <cstdint>
#include <span>
#include <vector>

#include "thread_pool.h"
#include "vec_dot.h"

namespace isomer::cpu {

// Rows per parallel chunk of row-wise work on rows of `cols` elements: about 4096 elements, so
// that a chunk outweighs handing it out.
int64_t row_grain(int64_t cols);
// The weight rows of each dot_rows call mat_mul makes, for rows of w_stride bytes and `cols`
// activation rows: a multiple of 16 rows (the blocks it shares out), up to 64 KiB of weights,
// or 4 MiB in decode (one activation row; fewer where a thread's chunk ends).
int64_t dot_rows_call_rows(size_t w_stride, int64_t cols);
// One weight matrix of a matrix product and where its result goes.
struct Product {
  TensorView w, out;
};
// mat_mul's work memory, which the caller keeps and mat_mul reuses (grown as needed): decode
// makes about a hundred products a token, on the thread the team waits for.
struct MatMulScratch {
  // The activations converted for one weight type (at `at` in `activations`, rows `stride` apart).
  struct Conversion {
    DType type;
    size_t at, stride;
  };
  // Each product's part of the shared loop: its rows in blocks, numbered on from the previous
  // product's.
  struct Part {
    DotRowsFn dot;
    size_t w_stride;
    int64_t first_block, call_rows;
    const Conversion* act;  // nullptr: f32
  };
  std::vector<uint8_t> activations;
  std::vector<Conversion> conversions;
  std::vector<Part> parts;
};
// The products of the activations x with one or more weight matrices (a layer's Q, K and V
// projections, or its FFN gate and up): x converted once per activation layout, and all the
// products' rows shared out in one parallel loop, so the team waits once instead of once per
// product.
void mat_mul(ThreadPool& pool, MatMulScratch& scratch, const TensorView& x, std::span<const Product> products);
// The weights thread t of `pool` reads first in mat_mul(pool, ..., products), up to the end of its
// share or of that product, whichever is first: what it can fetch before the loop
// (ThreadPool::fetch_while_idle).
std::span<const uint8_t> first_weights(const ThreadPool& pool, std::span<const Product> products, int t);
void attention(ThreadPool& pool, const AttentionParams& p, const TensorView& q,
               const TensorView& k, const TensorView& v, const TensorView& out);
void swiglu(ThreadPool& pool, const TensorView& g, const TensorView& u, const TensorView& out);
// The reference's RMS norm to its bits (each group's sum of squares as isomer/ops/norm.h adds it).
void rms_norm(ThreadPool& pool, const RmsNormParams& p, const TensorView& x, const TensorView& w, const TensorView& out);
void store_kv(ThreadPool& pool, const StoreKVParams& p, const TensorView& rows, const TensorView& cache);

}  // namespace isomer::cpu
