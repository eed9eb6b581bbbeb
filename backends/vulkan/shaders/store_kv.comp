#version 450
// Writes new rows into the cache at element `first`, converted to the cache type. For the
// 16-bit types one invocation writes one 32-bit word (two elements; the host checks evenness).
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer S { float s[]; };
layout(std430, binding = 2) buffer C { uint cache[]; };
layout(push_constant) uniform P { uint s_off, c_off, n, first; } p;

void main() {
  const uint i = flat_index();
#if defined(TYPE_F32)
  if (i < p.n) cache[p.c_off / 4u + p.first + i] = floatBitsToUint(s[p.s_off / 4u + i]);
#else
  if (2u * i >= p.n) return;
  const float a = s[p.s_off / 4u + 2u * i], b = s[p.s_off / 4u + 2u * i + 1u];
#if defined(TYPE_F16)
  const uint word = packHalf2x16(vec2(a, b));
#else
  const uint word = f32_to_bf16(a) | f32_to_bf16(b) << 16;
#endif
  cache[p.c_off / 4u + (p.first + 2u * i) / 2u] = word;
#endif
}
