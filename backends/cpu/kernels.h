// The CPU backend's own kernels for the ops where time goes (matrix products, attention).
// Other ops run the ops/ reference code on row ranges, in parallel.
#pragma once

#include <isomer/ops/op.h>

#include "thread_pool.h"

namespace isomer::cpu {

void mat_mul(ThreadPool& pool, const TensorView& x, const TensorView& w, const TensorView& out);
void attention(ThreadPool& pool, const AttentionParams& p, const TensorView& q,
               const TensorView& k, const TensorView& v, const TensorView& out);

}  // namespace isomer::cpu
