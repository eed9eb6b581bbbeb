#version 450
// out = a + b, b broadcast over rows when it has fewer elements.
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint a_off, b_off, y_off, n, nb; } p;

void main() {
  const uint i = flat_index();
  if (i < p.n) y[p.y_off / 4u + i] = a[p.a_off / 4u + i] + b[p.b_off / 4u + i % p.nb];
}
