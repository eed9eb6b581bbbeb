#version 450
// Causal attention with GQA, one workgroup per (query row, head), computed as the CPU backend
// (and llama.cpp's CPU flash attention) does to carry the same rounding. Scores go to a scratch
// row in global memory (any context length fits); then one invocation per output dimension.
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { uint W[]; };
layout(std430, binding = 2) readonly buffer V { uint vs[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) coherent buffer S { float sc[]; };
layout(push_constant) uniform P {
  uint q_off, k_off, v_off, o_off, s_off, rows, heads, kv_heads, d, n_past, kv_width, s_stride;
  float scale;
} p;

float cache_at(uint base, uint e, bool is_v) {
#if defined(TYPE_F32)
  return uintBitsToFloat(is_v ? vs[base / 4u + e] : W[base / 4u + e]);
#else
  const uint a = base + 2u * e, word = is_v ? vs[a >> 2] : W[a >> 2];
  const uint h = (word >> ((a & 2u) * 8u)) & 0xffffu;
#if defined(TYPE_F16)
  return unpackHalf2x16(h).x;
#else
  return uintBitsToFloat(h << 16);
#endif
#endif
}

// The query as the CPU backend (and llama.cpp) uses it: rounded to a 16-bit cache's type.
float query(uint i) {
#if defined(TYPE_F16)
  return unpackHalf2x16(packHalf2x16(vec2(q[i], 0.0))).x;
#elif defined(TYPE_BF16)
  return uintBitsToFloat(f32_to_bf16(q[i]) << 16);
#else
  return q[i];
#endif
}

float f16_round(float v) { return unpackHalf2x16(packHalf2x16(vec2(v, 0.0))).x; }

void main() {
  const uint wg = group_index(), t = gl_LocalInvocationID.x;
  if (wg >= p.rows * p.heads) return;
  const uint r = wg / p.heads, h = wg % p.heads, visible = p.n_past + r + 1u;
  const uint kv_col = (h / (p.heads / p.kv_heads)) * p.d;
  const uint q0 = p.q_off / 4u + (r * p.heads + h) * p.d, s0 = p.s_off / 4u + wg * p.s_stride;
  for (uint j = t; j < visible; j += 64u) {
    float dot = 0.0;
    for (uint i = 0u; i < p.d; ++i) dot += query(q0 + i) * cache_at(p.k_off, j * p.kv_width + kv_col + i, false);
    sc[s0 + j] = dot * p.scale;
  }
  memoryBarrierBuffer();
  barrier();
  // One online-softmax pass over the keys in order, per output dimension, rescaling the sum on
  // a new maximum; an F16 V cache's sums are rounded to F16 after every key (GGML's VKQ16).
  for (uint i = t; i < p.d; i += 64u) {
    float mx = uintBitsToFloat(0xff800000u), sum = 0.0, acc = 0.0;
    for (uint j = 0u; j < visible; ++j) {
      const float s = sc[s0 + j], v = cache_at(p.v_off, j * p.kv_width + kv_col + i, true);
      float ms = 1.0, vs = 1.0;
      if (s > mx) {
        ms = exp(mx - s);
        mx = s;
      } else {
        vs = exp(s - mx);
      }
#if defined(TYPE_F16)
      if (ms != 1.0) acc = f16_round(acc * ms);
      acc = f16_round(fma(v, vs, acc));
#else
      acc = fma(v, vs, acc * ms);
#endif
      sum = sum * ms + vs;
    }
    o[p.o_off / 4u + (r * p.heads + h) * p.d + i] = acc * (1.0 / sum);
  }
}
