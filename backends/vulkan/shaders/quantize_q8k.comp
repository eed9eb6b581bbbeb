#version 450
// Rounds activations to Q8_K as GGML's CPU matrix product does for K-quant weights
// (quantize_row_q8_K_ref), so that mul_mat agrees with the CPU backend and llama.cpp; writes
// the rounded values d * q as f32. Per 256: the scale from the signed value of largest
// magnitude (first on ties), q = min(127, round-even(-127 / max * x)). Without it the Q4_K_M
// fidelity references miss their KL bar (measured 3.2e-3 against 2.5e-3); the legacy types'
// Q8_0 / Q8_1 rounding is not emulated: it made stories260K-q8_0 worse (KL 4.2e-3 vs 1.6e-3).
#define BLOCK 256
layout(local_size_x = BLOCK) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint x_off, y_off, blocks; } p;
shared float amax[BLOCK];
shared uint where[BLOCK];

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
  if (amax[0] == 0.0) {
    y[p.y_off / 4u + i] = 0.0;
    return;
  }
  const float iscale = -127.0 / x[p.x_off / 4u + blk * BLOCK + where[0]];
  y[p.y_off / 4u + i] = (1.0 / iscale) * min(127.0, roundEven(iscale * v));
}
