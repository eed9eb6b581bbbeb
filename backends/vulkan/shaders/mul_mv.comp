#version 450
// The matrix-vector product (decode), one activation row per workgroup, with the shared-memory
// reduction; see mul_mat.glsl.
#define ACT_ROWS 1
#include "mul_mat.glsl"
