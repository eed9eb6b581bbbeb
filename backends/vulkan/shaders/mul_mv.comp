#version 450
// The matrix-vector product (decode); see mul_mat.glsl, also for the flavours (SUBGROUP, TEXEL).
// MV_ROWS weight rows per workgroup (ops.cpp's matvec_weight_rows): each invocation's slice of x is
// loaded once for them. On CPU devices (TEXEL) more rows amortise more (lavapipe, decode: 1, 2,
// 4, 8, 16 rows measured 1.0, 1.4, 0.67, 0.59, 0.57 times the time of one).
#if defined(TEXEL)
#define MV_ROWS 16
#else
#define MV_ROWS 4
#endif
// MV_ACT activation rows per workgroup: 1 for decode; with MV_BATCH (CPU devices' products of
// several rows, instead of mul_mm) each weight item is dequantised once for MV_BATCH rows.
#if defined(MV_BATCH)
#define MV_ACT MV_BATCH
#else
#define MV_ACT 1
#endif
#include "mul_mat.glsl"
