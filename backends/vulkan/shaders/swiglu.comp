#version 450
// out = silu(gate) * up.
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer G { float g[]; };
layout(std430, binding = 1) readonly buffer U { float u[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint g_off, u_off, y_off, n; } p;

void main() {
  const uint i = flat_index();
  if (i >= p.n) return;
  const float x = g[p.g_off / 4u + i];
  y[p.y_off / 4u + i] = x / (1.0 + exp(-x)) * u[p.u_off / 4u + i];
}
