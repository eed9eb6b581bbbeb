#version 450
// y[r, j] = sum_e x[r, e] * w[j, e]: one workgroup per weight row j and block of ROWS rows of x,
// each invocation a strided share of e, then a shared-memory tree reduction.
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { uint xs[]; };
layout(std430, binding = 1) readonly buffer Wt { uint W[]; };
layout(std430, binding = 2) writeonly buffer Y { uint ys[]; };
layout(push_constant) uniform P { uint x_off, w_off, y_off, rows, k, m, w_stride; } p;
#include "dequant.glsl"

const uint ROWS = 8u;
shared float red[ROWS][64];

void main() {
  const uint j = group_index(), r0 = gl_WorkGroupID.z * ROWS, t = gl_LocalInvocationID.x;
  if (j >= p.m) return;  // whole workgroup: uniform
  const uint nr = min(ROWS, p.rows - r0);
  float acc[ROWS];
  for (uint i = 0u; i < ROWS; ++i) acc[i] = 0.0;
  const uint row = p.w_off + j * p.w_stride, x0 = p.x_off / 4u + r0 * p.k;
  for (uint e = t; e < p.k; e += 64u) {
    const float w = wval(row, e);
    for (uint i = 0u; i < nr; ++i) acc[i] += w * uintBitsToFloat(xs[x0 + i * p.k + e]);
  }
  for (uint i = 0u; i < ROWS; ++i) red[i][t] = acc[i];
  barrier();
  for (uint s = 32u; s > 0u; s >>= 1) {
    if (t < s)
      for (uint i = 0u; i < ROWS; ++i) red[i][t] += red[i][t + s];
    barrier();
  }
  if (t < nr) ys[p.y_off / 4u + (r0 + t) * p.m + j] = floatBitsToUint(red[t][0]);
}
