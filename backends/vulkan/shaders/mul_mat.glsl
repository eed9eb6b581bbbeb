// y[r, j] = sum_e x[r, e] * w[j, e] for a few rows of x (decode), the weights dequantised in
// the shader a whole block (for the K-quants a 32-element sub-block) at a time from 32-bit word
// loads. Included by mul_mv.comp.
//
// A workgroup computes NR weight rows (a specialisation constant) for ACT_ROWS activation rows
// (a define; arrays sized by specialisation constants make lavapipe's code several times
// slower). Its invocations split k into 32-element items (4 elements for the float types) and
// reduce their partial sums with subgroupAdd (SUBGROUP defined: the device has subgroup
// arithmetic in compute; workgroups of several subgroups combine them in shared memory) or a
// shared-memory tree (the fallback; the workgroup size must then be a power of two).
#extension GL_GOOGLE_include_directive : require
#if defined(SUBGROUP)
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1) || defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#define HAS_MIN 1  // blocks with a minimum: w = d * q + m
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NR = 1;  // weight rows per workgroup
const uint NB = ACT_ROWS;                   // activation rows per workgroup
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

const uint MAX_WG = 128u;  // the largest workgroup the host asks for
shared float red[NB * MAX_WG];

uint x0, nb;            // first activation element of this workgroup's rows; rows present
float acc[NB], sq[NB];  // per activation row: the dot product, the current item's q . x
#if defined(HAS_MIN)
float sx[NB];           // the current item's sum of x (for the blocks' minimums)
#endif

// Adds q . x[e .. e + 3] of every activation row.
void quad(vec4 q, uint e) {
  for (uint b = 0u; b < NB; ++b) {
    if (b >= nb) break;  // uniform
    const uint i = x0 + b * p.k + e;
    // One 16-byte load where x is 16-byte aligned with rows of whole vec4s (lavapipe's loads
    // cost the same whatever their width).
    const vec4 x = p.x_vec4 != 0u ? XLOAD4(i >> 2) : vec4(xs[i], xs[i + 1u], xs[i + 2u], xs[i + 3u]);
    sq[b] += dot(q, x);
#if defined(HAS_MIN)
    sx[b] += (x.x + x.y) + (x.z + x.w);
#endif
  }
}
// Ends a run of quads that share a scale (and a minimum).
void flush(float scale, float mn) {
  for (uint b = 0u; b < NB; ++b) {
#if defined(HAS_MIN)
    acc[b] += scale * sq[b] + mn * sx[b];
    sx[b] = 0.0;
#else
    acc[b] += scale * sq[b];
#endif
    sq[b] = 0.0;
  }
}

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
const uint ITEM = 4u;
#else
const uint ITEM = 32u;
#endif

// Item `it` of the weight row that starts at byte `row`: elements it * ITEM ...
void item(uint row, uint it) {
  const uint e = it * ITEM;
#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
  if (e + 4u <= p.k) {
#if defined(TYPE_F32)
    const uint a = (row >> 2) + e;
    quad(vec4(uintBitsToFloat(wload(a)), uintBitsToFloat(wload(a + 1u)), uintBitsToFloat(wload(a + 2u)),
              uintBitsToFloat(wload(a + 3u))), e);
#else
    const uint lo = wword(row + 2u * e), hi = wword(row + 2u * e + 4u);
#if defined(TYPE_F16)
    quad(vec4(unpackHalf2x16(lo), unpackHalf2x16(hi)), e);
#else
    quad(uintBitsToFloat(uvec4(lo << 16, lo & 0xffff0000u, hi << 16, hi & 0xffff0000u)), e);
#endif
#endif
  } else {  // the last, partial quad of a row: weights past k are 0, x indices clamped
    vec4 q = vec4(0.0);
    for (uint i = 0u; e + i < p.k; ++i) q[i] = wval(row, e + i);
    const uint last = p.k - 1u - e;
    for (uint b = 0u; b < NB; ++b) {
      const uint i = x0 + min(b, nb - 1u) * p.k + e;
      sq[b] += dot(q, vec4(xs[i], xs[i + min(1u, last)], xs[i + min(2u, last)], xs[i + min(3u, last)]));
    }
  }
  flush(1.0, 0.0);
#elif defined(TYPE_Q8_0)
  const uint b = row + it * 34u;
  for (uint i = 0u; i < 8u; ++i) {
    const int w = int(wword(b + 2u + 4u * i));
    quad(vec4(ivec4(w) << ivec4(24, 16, 8, 0) >> 24), e + 4u * i);
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
  for (uint i = 0u; i < 4u; ++i) {
    const uint w = wword(qs + 4u * i);
    quad(vec4(nibbles4(w, 0u)) - off, e + 4u * i);
    quad(vec4(nibbles4(w, 4u)) - off, e + 16u + 4u * i);
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
  for (uint i = 0u; i < 4u; ++i) {
    const uint w = wword(qs + 4u * i);
    const uvec4 h_lo = ((uvec4(qh) >> (uvec4(0u, 1u, 2u, 3u) + 4u * i)) & 1u) << 4;
    const uvec4 h_hi = ((uvec4(qh) >> (uvec4(16u, 17u, 18u, 19u) + 4u * i)) & 1u) << 4;
    quad(vec4(nibbles4(w, 0u) | h_lo) - off, e + 4u * i);
    quad(vec4(nibbles4(w, 4u) | h_hi) - off, e + 16u + 4u * i);
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
  for (uint i = 0u; i < 8u; ++i) {
    uvec4 q = nibbles4(wword(qs + 4u * i), 4u * (j & 1u));
#if defined(TYPE_Q5_K)
    q |= ((bytes4(wword(b + 16u + 4u * i)) >> j) & 1u) << 4;
#endif
    quad(vec4(q), e + 4u * i);
  }
  const uvec2 sm = k4_scale_min(b + 4u, j);
  flush(wf16(b) * float(sm.x), -wf16(b + 2u) * float(sm.y));
#elif defined(TYPE_Q6_K)
  // Sub-block j of super-block it / 8: half h = j / 4, quarter j % 4 of that half.
  const uint j = it % 8u, b = row + (it / 8u) * 210u, h = j / 4u, qd = j % 4u;
  const uint ql = b + h * 64u + (qd & 1u) * 32u, qh = b + 128u + h * 32u;
  const float d = wf16(b + 208u);
  for (uint i = 0u; i < 8u; ++i) {
    const uvec4 q = nibbles4(wword(ql + 4u * i), qd < 2u ? 0u : 4u) |
                    ((bytes4(wword(qh + 4u * i)) >> (2u * qd)) & 3u) << 4;
    quad(vec4(q) - 32.0, e + 4u * i);
    if (i == 3u) flush(d * float(wi8(b + 192u + 2u * j)), 0.0);
  }
  flush(d * float(wi8(b + 193u + 2u * j)), 0.0);
#endif
}

void main() {
  const uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  const uint r0 = gl_WorkGroupID.z * NB, items = (p.k + ITEM - 1u) / ITEM;
  nb = min(NB, p.rows - r0);
  x0 = p.x_off / 4u + r0 * p.k;
  for (uint n = 0u; n < NR; ++n) {
    const uint j = group_index() * NR + n;
    if (j >= p.m) return;  // uniform over the workgroup
    for (uint b = 0u; b < NB; ++b) {
      acc[b] = 0.0;
      sq[b] = 0.0;
#if defined(HAS_MIN)
      sx[b] = 0.0;
#endif
    }
    const uint row = p.w_off + j * p.w_stride;
    for (uint it = t; it < items; it += wg) item(row, it);
#if defined(SUBGROUP)
    for (uint b = 0u; b < NB; ++b) acc[b] = subgroupAdd(acc[b]);
    if (gl_NumSubgroups > 1u) {  // several subgroups: their sums through shared memory
      if (subgroupElect())
        for (uint b = 0u; b < NB; ++b) red[b * wg + gl_SubgroupID] = acc[b];
      barrier();
      if (t < nb) {
        float s = 0.0;
        for (uint g = 0u; g < gl_NumSubgroups; ++g) s += red[t * wg + g];
        ys[p.y_off / 4u + (r0 + t) * p.m + j] = s;
      }
      barrier();
    } else if (t == 0u) {
      for (uint b = 0u; b < nb; ++b) ys[p.y_off / 4u + (r0 + b) * p.m + j] = acc[b];
    }
#else
    for (uint b = 0u; b < NB; ++b) red[b * wg + t] = acc[b];
    barrier();
    for (uint s = wg / 2u; s > 0u; s >>= 1) {
      if (t < s)
        for (uint b = 0u; b < NB; ++b) red[b * wg + t] += red[b * wg + t + s];
      barrier();
    }
    if (t < nb) ys[p.y_off / 4u + (r0 + t) * p.m + j] = red[t * wg];
    barrier();
#endif
  }
}
