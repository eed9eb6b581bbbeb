#version 450
// The matrix-vector product (decode), one activation row per workgroup; see mul_mat.glsl for
// the flavours (SUBGROUP, TEXEL).
#define ACT_ROWS 1
#include "mul_mat.glsl"
