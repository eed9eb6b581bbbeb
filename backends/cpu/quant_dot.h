#pragma once
#include <isomer/ops/dtype.h>
namespace isomer::cpu {
float dot_row(DType type, const void* row, const float* x, int64_t n);
void dequantize_row_fast(DType type, const void* row, float* dst, int64_t n);
}
