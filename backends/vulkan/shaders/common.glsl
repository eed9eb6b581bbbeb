// Shared by every shader (included after the local size is declared). Buffers are bound whole as uint arrays; operands are located by byte
// offsets in push constants (weights of odd-sized blocks are not 4-byte aligned). Large
// dispatches are split over a 2-D grid because a dimension is capped at 65535 groups.
#extension GL_GOOGLE_include_directive : require

uint group_index() { return gl_WorkGroupID.y * 65535u + gl_WorkGroupID.x; }
uint flat_index() { return group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x; }

// Round-to-nearest-even f32 -> bf16, NaN kept quiet (as GGML rounds it).
uint f32_to_bf16(float f) {
  uint u = floatBitsToUint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 64u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

// a / b rounded as IEEE division. GLSL's `/` may be off by an ulp or two (it is on NVIDIA's
// drivers); one correction step on its quotient, with the remainder exact through a fused
// multiply-add, gives the rounded quotient. `precise` keeps the compiler from re-associating.
float div_rn(float a, float b) {
  precise float q = a / b;
  precise float r = fma(-q, b, a);
  precise float c = fma(r, 1.0 / b, q);
  return c;
}

