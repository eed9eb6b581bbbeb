#version 450
// One workgroup per group of g contiguous values: y = x / sqrt(mean(x^2) + eps) * w.
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint x_off, w_off, y_off, groups, g; float eps; } p;
shared float red[64];

void main() {
  const uint grp = group_index(), t = gl_LocalInvocationID.x;
  if (grp >= p.groups) return;
  const uint x0 = p.x_off / 4u + grp * p.g, y0 = p.y_off / 4u + grp * p.g;
  float s = 0.0;
  for (uint i = t; i < p.g; i += 64u) s += x[x0 + i] * x[x0 + i];
  red[t] = s;
  barrier();
  for (uint k = 32u; k > 0u; k >>= 1) {
    if (t < k) red[t] += red[t + k];
    barrier();
  }
  const float scale = 1.0 / sqrt(red[0] / float(p.g) + p.eps);
  for (uint i = t; i < p.g; i += 64u) y[y0 + i] = x[x0 + i] * scale * w[p.w_off / 4u + i];
}
