#version 450
// Rounds activations to Q8_K as GGML's CPU matrix product does for K-quant weights
// (quantize_row_q8_K_ref), so that the products agree with the CPU backend and llama.cpp. Per
// 256: the scale from the signed value of largest magnitude (first on ties), q = min(127,
// round-even(-127 / max * x)), d = 1 / (-127 / max). Without it the Q4_K_M fidelity references
// miss their KL bar (measured 3.2e-3 against 2.5e-3); the legacy types' Q8_0 / Q8_1 rounding is
// not emulated: it made stories260K-q8_0 worse (KL 4.2e-3 vs 1.6e-3).
//
// p.levels == 0 (for mul_mv): writes the rounded values d * q as f32. p.levels != 0 (for
// mul_mm's integer sums): writes the levels as bytes (blocks x 256), then the sums of each 16
// levels as int32 (blocks x 16), then d per block as f32 (blocks).
#define BLOCK 256
layout(local_size_x = BLOCK) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) writeonly buffer YI { uint yi[]; };
layout(push_constant) uniform P { uint x_off, y_off, blocks, levels; } p;
shared float amax[BLOCK];
shared uint where[BLOCK];
shared int q[BLOCK];

void main() {
  const uint blk = group_index(), t = gl_LocalInvocationID.x;
  if (blk >= p.blocks) return;
  const uint i = blk * BLOCK + t;
  const float v = x[p.x_off / 4u + i];
  amax[t] = abs(v);
  where[t] = t;
  barrier();
  for (uint s = BLOCK / 2; s > 0u; s >>= 1) {
    if (t < s && (amax[t + s] > amax[t] || (amax[t + s] == amax[t] && where[t + s] < where[t]))) {
      amax[t] = amax[t + s];
      where[t] = where[t + s];
    }
    barrier();
  }
  const bool zero = amax[0] == 0.0;  // uniform
  // Divisions rounded as the CPU's (div_rn): an ulp of iscale moves values across a rounding
  // step (measured on an NVIDIA GPU, whose plain division is approximate: qwen2-syn KL 3.0e-3).
  const float iscale = zero ? 0.0 : div_rn(-127.0, x[p.x_off / 4u + blk * BLOCK + where[0]]);
  const float level = zero ? 0.0 : min(127.0, roundEven(iscale * v));
  if (p.levels == 0u) {
    y[p.y_off / 4u + i] = zero ? 0.0 : div_rn(1.0, iscale) * level;
    return;
  }
  q[t] = int(level);
  barrier();
  const uint base = p.y_off / 4u;
  if (t < BLOCK / 4u) {
    const uvec4 b = uvec4(ivec4(q[4u * t], q[4u * t + 1u], q[4u * t + 2u], q[4u * t + 3u]) & 255);
    yi[base + blk * (BLOCK / 4u) + t] = b.x | b.y << 8 | b.z << 16 | b.w << 24;
  } else if (t < BLOCK / 4u + 16u) {
    const uint g = t - BLOCK / 4u;
    int s = 0;
    for (uint l = 0u; l < 16u; ++l) s += q[16u * g + l];
    yi[base + p.blocks * (BLOCK / 4u) + blk * 16u + g] = uint(s);
  } else if (t == BLOCK / 4u + 16u) {
    y[base + p.blocks * (BLOCK / 4u + 16u) + blk] = zero ? 0.0 : div_rn(1.0, iscale);
  }
}
