// The CPU backend's weight-row kernels: fused dequantise + dot for matrix-vector products
// (the decode hot loop) and fast dequantisation of a whole row (for matrix-matrix products,
// where one dequantised row is reused across many activation rows).
#pragma once

#include <isomer/ops/dtype.h>

#include <cstdint>

namespace isomer::cpu {

// Dot product of one weight row of n elements of `type` (n a multiple of its block size) with
// the f32 vector x, accumulated in f32: within ~1e-6 * sum |w*x| of the exact dot product of
// the reference dequantisation with x (for rows of thousands of elements).
float dot_row(DType type, const void* row, const float* x, int64_t n);

// Dequantises n elements of `type` to f32: the same values as isomer::dequantize_row, bit for
// bit, vectorised.
void dequantize_row_fast(DType type, const void* row, float* y, int64_t n);

}  // namespace isomer::cpu
