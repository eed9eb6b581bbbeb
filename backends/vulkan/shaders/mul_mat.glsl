// y[r, j] = sum_e x[r, e] * w[j, e], the weights dequantised in the shader a whole block (for
// the K-quants a 32-element sub-block) at a time from 32-bit word loads. Included by mul_mv.comp.
//
// A workgroup computes NR weight rows for NB activation rows (a dispatch's z steps through the
// activation rows NB at a time; NB is 1 for decode). Its invocations split k into items of 32
// elements (4 for the float types): each loads its item of x once and takes it through the NR
// rows (each summed in the same order whatever NB); the partial sums are reduced with
// subgroupAdd (SUBGROUP defined: the device has subgroup arithmetic in compute; workgroups of
// several subgroups combine them in shared memory) or a shared-memory tree (the fallback; the
// workgroup size must then be a power of two). NR and NB are defines, not specialisation
// constants: arrays sized by those make lavapipe's code several times slower.
#extension GL_GOOGLE_include_directive : require
#if defined(SUBGROUP)
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1) || defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#define HAS_MIN 1  // blocks with a minimum: w = d * q + m
#endif
layout(local_size_x_id = 0) in;
const uint NR = MV_ROWS;  // weight rows per workgroup
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float xs[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 xs4[]; };  // when p.x_vec4 != 0
#if defined(TEXEL)
layout(binding = 6) uniform samplerBuffer X4tex;  // instead of X4 (see dequant.glsl)
#define XLOAD4(i) texelFetch(X4tex, int(i))
#else
#define XLOAD4(i) xs4[i]
#endif
layout(std430, binding = 2) writeonly buffer Y { float ys[]; };
layout(push_constant) uniform P { uint x_off, w_off, y_off, rows, k, m, w_stride, x_vec4; } p;
#define W_BINDING 1
#include "dequant.glsl"

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
const uint ITEM = 4u;
#else
const uint ITEM = 32u;
#endif
const uint NB = MV_ACT;           // activation rows per workgroup
const uint QUADS = ITEM / 4u;     // vec4s per item
const uint MAX_WG = NB == 1u ? 128u : 32u;  // the largest workgroup the host asks for
shared float red[NR * NB * MAX_WG];

vec4 xc[NB * QUADS];  // this invocation's item of each activation row's x
#if defined(HAS_MIN)
float xsum[NB];       // their sums, in the order the blocks' minimums take them
#endif
// Per activation row: the current weight row's dot product; the current run's q . x.
float acc[NB], sq[NB];

// Where quad i (4 elements) of item `it` starts in a row: the item's elements in order, except
// for Q6_K, whose item is 8 bytes of a half-block's low and high bits (read once, where
// 32-element sub-blocks read the low bits twice and the high bits four times): 4 runs of 8
// elements, 32 apart.
uint quad_start(uint it, uint i) {
#if defined(TYPE_Q6_K)
  return (it / 4u) * 128u + (i / 2u) * 32u + (it % 4u) * 8u + (i % 2u) * 4u;
#else
  return it * ITEM + 4u * i;
#endif
}

// Item `it` of x for activation rows r0 .. r0 + nb - 1 into xc (zeros past k).
void load_x(uint x0, uint nb, uint it) {
  for (uint b = 0u; b < NB; ++b) {
#if defined(HAS_MIN)
    xsum[b] = 0.0;
#endif
    for (uint i = 0u; i < QUADS; ++i) {
      const uint e = quad_start(it, i);
      const uint a = x0 + min(b, nb - 1u) * p.k + e;  // a row past nb repeats the last
      if (p.x_vec4 != 0u) {  // one 16-byte load where x is 16-byte aligned with rows of whole vec4s
        xc[b * QUADS + i] = XLOAD4(a >> 2);
      } else if (e + 4u <= p.k) {
        xc[b * QUADS + i] = vec4(xs[a], xs[a + 1u], xs[a + 2u], xs[a + 3u]);
      } else {  // the last, partial quad of a float row
        xc[b * QUADS + i] = vec4(0.0);
        for (uint c = 0u; e + c < p.k; ++c) xc[b * QUADS + i][c] = xs[a + c];
      }
#if defined(HAS_MIN)
      xsum[b] += (xc[b * QUADS + i].x + xc[b * QUADS + i].y) + (xc[b * QUADS + i].z + xc[b * QUADS + i].w);
#endif
    }
  }
}

// Adds q . x of quad i of the item, for each activation row.
void quad(vec4 q, uint i) {
  for (uint b = 0u; b < NB; ++b) sq[b] += dot(q, xc[b * QUADS + i]);
}
// Ends a run of quads that share a scale (and, where blocks have one, a whole item's minimum).
void flush(float scale, float mn) {
  for (uint b = 0u; b < NB; ++b) {
#if defined(HAS_MIN)
    acc[b] += scale * sq[b] + mn * xsum[b];
#else
    acc[b] += scale * sq[b];
#endif
    sq[b] = 0.0;
  }
}

// Item `it` of the weight row that starts at byte `row`: elements it * ITEM ...
void item(uint row, uint it) {
  const uint e = it * ITEM;
#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
  if (e + 4u <= p.k) {
#if defined(TYPE_F32)
    const uint a = (row >> 2) + e;
    quad(vec4(uintBitsToFloat(wload(a)), uintBitsToFloat(wload(a + 1u)), uintBitsToFloat(wload(a + 2u)),
              uintBitsToFloat(wload(a + 3u))), 0u);
#else
    const uint lo = wword(row + 2u * e), hi = wword(row + 2u * e + 4u);
#if defined(TYPE_F16)
    quad(vec4(unpackHalf2x16(lo), unpackHalf2x16(hi)), 0u);
#else
    quad(uintBitsToFloat(uvec4(lo << 16, lo & 0xffff0000u, hi << 16, hi & 0xffff0000u)), 0u);
#endif
#endif
  } else {  // the last, partial quad of a row: weights (and x) past k are 0
    vec4 q = vec4(0.0);
    for (uint i = 0u; e + i < p.k; ++i) q[i] = wval(row, e + i);
    quad(q, 0u);
  }
  flush(1.0, 0.0);
#elif defined(TYPE_Q8_0)
  const uint b = row + it * 34u;
  uint ws[8];
  wwords8(b + 2u, ws);
  for (uint i = 0u; i < 8u; ++i) {
    quad(vec4(ivec4(ws[i]) << ivec4(24, 16, 8, 0) >> 24), i);
  }
  flush(wf16(b), 0.0);
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1)
#if defined(TYPE_Q4_0)
  const uint b = row + it * 18u, qs = b + 2u;
  const float off = 8.0;
#else
  const uint b = row + it * 20u, qs = b + 4u;
  const float off = 0.0;
#endif
  uint ws[4];
  wwords4(qs, ws);
  for (uint i = 0u; i < 4u; ++i) {
    const uint w = ws[i];
    quad(vec4(nibbles4(w, 0u)) - off, i);
    quad(vec4(nibbles4(w, 4u)) - off, 4u + i);
  }
#if defined(TYPE_Q4_0)
  flush(wf16(b), 0.0);
#else
  flush(wf16(b), wf16(b + 2u));
#endif
#elif defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
#if defined(TYPE_Q5_0)
  const uint b = row + it * 22u, qh = wword(b + 2u), qs = b + 6u;
  const float off = 16.0;
#else
  const uint b = row + it * 24u, qh = wword(b + 4u), qs = b + 8u;
  const float off = 0.0;
#endif
  uint ws[4];
  wwords4(qs, ws);
  for (uint i = 0u; i < 4u; ++i) {
    const uint w = ws[i];
    const uvec4 h_lo = ((uvec4(qh) >> (uvec4(0u, 1u, 2u, 3u) + 4u * i)) & 1u) << 4;
    const uvec4 h_hi = ((uvec4(qh) >> (uvec4(16u, 17u, 18u, 19u) + 4u * i)) & 1u) << 4;
    quad(vec4(nibbles4(w, 0u) | h_lo) - off, i);
    quad(vec4(nibbles4(w, 4u) | h_hi) - off, 4u + i);
  }
#if defined(TYPE_Q5_0)
  flush(wf16(b), 0.0);
#else
  flush(wf16(b), wf16(b + 2u));
#endif
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
  // Sub-block j of super-block it / 8: the low (j even) or high nibbles of 32 bytes.
  const uint j = it % 8u;
#if defined(TYPE_Q4_K)
  const uint b = row + (it / 8u) * 144u, qs = b + 16u + 32u * (j / 2u);
#else
  const uint b = row + (it / 8u) * 176u, qs = b + 48u + 32u * (j / 2u);
#endif
  uint ws[8];
  wwords8(qs, ws);
#if defined(TYPE_Q5_K)
  uint hs[8];
  wwords8(b + 16u, hs);
#endif
  for (uint i = 0u; i < 8u; ++i) {
    uvec4 q = nibbles4(ws[i], 4u * (j & 1u));
#if defined(TYPE_Q5_K)
    q |= ((bytes4(hs[i]) >> j) & 1u) << 4;
#endif
    quad(vec4(q), i);
  }
  const uvec2 sm = k4_scale_min(b + 4u, j);
  flush(wf16(b) * float(sm.x), -wf16(b + 2u) * float(sm.y));
#elif defined(TYPE_Q6_K)
  // Bytes l0 .. l0 + 7 of half h of super-block it / 8 (see quad_start): the low nibbles of ql
  // and ql + 32 are runs 0 and 1, their high nibbles runs 2 and 3, and run g's top two bits are
  // bits 2g, 2g + 1 of qh. Each run of 8 has one scale.
  const uint b = row + (it / 8u) * 210u, h = (it / 4u) % 2u, l0 = (it % 4u) * 8u;
  const float d = wf16(b + 208u);
  uint ql0[2], ql1[2], qh[2], sc[2];
  wwords2(b + h * 64u + l0, ql0);
  wwords2(b + h * 64u + 32u + l0, ql1);
  wwords2(b + 128u + h * 32u + l0, qh);
  wwords2(b + 192u + h * 8u + l0 / 16u, sc);  // run g's scale is byte 2g
  for (uint g = 0u; g < 4u; ++g) {
    for (uint i = 0u; i < 2u; ++i) {
      const uvec4 q = nibbles4(g % 2u == 0u ? ql0[i] : ql1[i], g < 2u ? 0u : 4u) |
                      ((bytes4(qh[i]) >> (2u * g)) & 3u) << 4;
      quad(vec4(q) - 32.0, 2u * g + i);
    }
    flush(d * float(bitfieldExtract(int(sc[g / 2u]), int(16u * (g % 2u)), 8)), 0.0);
  }
#endif
}

void main() {
  const uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  const uint r0 = gl_WorkGroupID.z * NB, items = (p.k + ITEM - 1u) / ITEM, j0 = group_index() * NR;
  const uint x0 = p.x_off / 4u + r0 * p.k, nb = min(NB, p.rows - r0);
  float sums[NR * NB];  // [weight row n][activation row b]
  for (uint i = 0u; i < NR * NB; ++i) sums[i] = 0.0;
  for (uint it = t; it < items; it += wg) {
    load_x(x0, nb, it);
    for (uint n = 0u; n < NR; ++n) {
      if (j0 + n >= p.m) break;  // uniform over the workgroup
      for (uint b = 0u; b < NB; ++b) {
        acc[b] = sums[n * NB + b];
        sq[b] = 0.0;
      }
      item(p.w_off + (j0 + n) * p.w_stride, it);
      for (uint b = 0u; b < NB; ++b) sums[n * NB + b] = acc[b];
    }
  }
  // Output i = n * NB + b: weight row j0 + n of activation row r0 + b.
  const uint outputs = min(NR, p.m - j0) * NB;
#define Y_INDEX(i) (p.y_off / 4u + (r0 + (i) % NB) * p.m + j0 + (i) / NB)
#define Y_PRESENT(i) ((i) < outputs && (i) % NB < nb)
#if defined(SUBGROUP)
  for (uint i = 0u; i < NR * NB; ++i) sums[i] = subgroupAdd(sums[i]);
  if (gl_NumSubgroups > 1u) {  // several subgroups: their sums through shared memory
    if (subgroupElect())
      for (uint i = 0u; i < NR * NB; ++i) red[i * MAX_WG + gl_SubgroupID] = sums[i];
    barrier();
    for (uint i = t; i < NR * NB; i += wg) {
      float s = 0.0;
      for (uint g = 0u; g < gl_NumSubgroups; ++g) s += red[i * MAX_WG + g];
      if (Y_PRESENT(i)) ys[Y_INDEX(i)] = s;
    }
  } else if (t == 0u) {
    for (uint i = 0u; i < NR * NB; ++i)
      if (Y_PRESENT(i)) ys[Y_INDEX(i)] = sums[i];
  }
#else
  for (uint i = 0u; i < NR * NB; ++i) red[i * MAX_WG + t] = sums[i];
  barrier();
  for (uint s = wg / 2u; s > 0u; s >>= 1) {
    if (t < s)
      for (uint i = 0u; i < NR * NB; ++i) red[i * MAX_WG + t] += red[i * MAX_WG + t + s];
    barrier();
  }
  for (uint i = t; i < NR * NB; i += wg)
    if (Y_PRESENT(i)) ys[Y_INDEX(i)] = red[i * MAX_WG];
#endif
}
