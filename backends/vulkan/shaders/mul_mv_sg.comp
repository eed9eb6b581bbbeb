#version 450
// The matrix-vector product (decode), one activation row per workgroup, with subgroupAdd
// reductions; see mul_mat.glsl.
#define ACT_ROWS 1
#define SUBGROUP 1
#include "mul_mat.glsl"
