// Element e of a weight row that starts at byte `row` of the weights, for the type selected by
// TYPE_<name>. Block layouts as documented in ops/include/isomer/ops/quant_blocks.h.
//
// The weights are 32-bit words: a storage buffer at binding W_BINDING (defined by the includer)
// or, with TEXEL, a uniform texel buffer at binding 5. A CPU device (lavapipe) runs a storage
// load as a loop over the invocations of a SIMD row and a texel fetch as one vector gather,
// several times faster; texel buffers also address more (lavapipe: 512 MiB of 32-bit texels
// against 128 MiB of storage buffer).
#if defined(TEXEL)
layout(binding = 5) uniform usamplerBuffer Wtex;
layout(binding = 7) uniform usamplerBuffer Wtex4;  // the same words as 16-byte texels
uint wload(uint i) { return texelFetch(Wtex, int(i)).x; }
uvec4 wload4(uint i) { return texelFetch(Wtex4, int(i)); }
#else
layout(std430, binding = W_BINDING) readonly buffer Wt { uint W[]; };
uint wload(uint i) { return W[i]; }
#endif
uint wbyte(uint a) { return (wload(a >> 2) >> ((a & 3u) * 8u)) & 0xffu; }
uint wu16(uint a) { return (wload(a >> 2) >> ((a & 2u) * 8u)) & 0xffffu; }
float wf16(uint a) { return unpackHalf2x16(wu16(a)).x; }
int wi8(uint a) { return bitfieldExtract(int(wbyte(a)), 0, 8); }
// 32 bits at any byte address of W (weights of odd-sized blocks are 2-byte aligned).
uint wword(uint a) {
  const uint i = a >> 2, s = (a & 3u) * 8u, lo = wload(i) >> s;
  return s == 0u ? lo : lo | (wload(i + 1u) << (32u - s));
}
// wwordsN(a, w): N consecutive 32-bit words from byte address a (N 2, 4 or 8), where N calls of
// wword would fetch two words for each unaligned one.
#extension GL_EXT_control_flow_attributes : require
#if defined(TEXEL)
// From 16-byte texels: the (N + 3) / 4 from the one holding a, and the next where the words
// (and, at an unaligned a, the word after them) reach into it. A CPU device fetches a texel
// with a few vector loads, where a word fetch is a gather (lavapipe: ~30 cycles each).
#define WWORDS(N)                                                                          \
  void wwords##N(uint a, out uint w[N]) {                                                  \
    const uint T = (N + 3u) / 4u, t = a >> 4, o = (a >> 2) & 3u, s = (a & 3u) * 8u;        \
    uint v[4 * ((N + 3) / 4) + 4];                                                         \
    [[unroll]] for (uint n = 0u; n < T; ++n) {                                             \
      const uvec4 q = wload4(t + n);                                                       \
      v[4u * n] = q.x; v[4u * n + 1u] = q.y; v[4u * n + 2u] = q.z; v[4u * n + 3u] = q.w;  \
    }                                                                                      \
    uvec4 q = uvec4(0u);                                                                   \
    if (o + N + (s != 0u ? 1u : 0u) > 4u * T) q = wload4(t + T);                           \
    v[4u * T] = q.x; v[4u * T + 1u] = q.y; v[4u * T + 2u] = q.z; v[4u * T + 3u] = q.w;      \
    uint u[N + 1];  /* words o .. o + N; selected, not indexed by o: no private-memory array */ \
    [[unroll]] for (uint n = 0u; n <= N; ++n)                                              \
      u[n] = o == 0u ? v[n] : o == 1u ? v[n + 1u] : o == 2u ? v[n + 2u] : v[n + 3u];        \
    [[unroll]] for (uint n = 0u; n < N; ++n) w[n] = s == 0u ? u[n] : (u[n] >> s) | (u[n + 1u] << (32u - s)); \
  }
#else
// One fetch per word, and one more where a is not 4-byte aligned.
#define WWORDS(N)                                                                          \
  void wwords##N(uint a, out uint w[N]) {                                                  \
    const uint i = a >> 2, s = (a & 3u) * 8u;                                              \
    [[unroll]] for (uint n = 0u; n < N; ++n) w[n] = wload(i + n);                          \
    if (s != 0u) {                                                                         \
      [[unroll]] for (uint n = 0u; n < N - 1u; ++n) w[n] = (w[n] >> s) | (w[n + 1u] << (32u - s)); \
      w[N - 1u] = (w[N - 1u] >> s) | (wload(i + N) << (32u - s));                         \
    }                                                                                      \
  }
#endif
WWORDS(2)
WWORDS(4)
WWORDS(8)
uvec4 bytes4(uint w) { return (uvec4(w) >> uvec4(0u, 8u, 16u, 24u)) & 255u; }
uvec4 nibbles4(uint w, uint shift) { return (uvec4(w) >> (uvec4(0u, 8u, 16u, 24u) + shift)) & 15u; }

// The 6-bit scale (x) and min (y) of sub-block j of a Q4_K / Q5_K block's scales at s.
uvec2 k4_scale_min(uint s, uint j) {
  if (j < 4u) return uvec2(wbyte(s + j) & 63u, wbyte(s + j + 4u) & 63u);
  return uvec2((wbyte(s + j + 4u) & 15u) | (wbyte(s + j - 4u) >> 6) << 4,
               (wbyte(s + j + 4u) >> 4) | (wbyte(s + j) >> 6) << 4);
}

float wval(uint row, uint e) {
#if defined(TYPE_F32)
  return uintBitsToFloat(wload((row >> 2) + e));
#elif defined(TYPE_F16)
  return wf16(row + 2u * e);
#elif defined(TYPE_BF16)
  return uintBitsToFloat(wu16(row + 2u * e) << 16);
#elif defined(TYPE_Q8_0)
  uint b = row + (e / 32u) * 34u;
  return wf16(b) * float(wi8(b + 2u + e % 32u));
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1)
#if defined(TYPE_Q4_0)
  uint b = row + (e / 32u) * 18u, qs = b + 2u;
#else
  uint b = row + (e / 32u) * 20u, qs = b + 4u;
#endif
  uint j = e % 32u, q = wbyte(qs + (j & 15u));
  q = j < 16u ? q & 15u : q >> 4;
#if defined(TYPE_Q4_0)
  return wf16(b) * (float(q) - 8.0);
#else
  return wf16(b) * float(q) + wf16(b + 2u);
#endif
#elif defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
#if defined(TYPE_Q5_0)
  uint b = row + (e / 32u) * 22u, qh = b + 2u;
#else
  uint b = row + (e / 32u) * 24u, qh = b + 4u;
#endif
  uint j = e % 32u, q = wbyte(qh + 4u + (j & 15u));
  q = (j < 16u ? q & 15u : q >> 4) | ((wbyte(qh + j / 8u) >> (j % 8u)) & 1u) << 4;
#if defined(TYPE_Q5_0)
  return wf16(b) * (float(q) - 16.0);
#else
  return wf16(b) * float(q) + wf16(b + 2u);
#endif
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#if defined(TYPE_Q4_K)
  uint b = row + (e / 256u) * 144u, qs = b + 16u;
#else
  uint b = row + (e / 256u) * 176u, qs = b + 48u;
#endif
  uint r = e % 256u, c = r / 64u, l = r % 64u;
  uint q = wbyte(qs + 32u * c + (l & 31u));
  q = l < 32u ? q & 15u : q >> 4;
#if defined(TYPE_Q5_K)
  q |= ((wbyte(b + 16u + (l & 31u)) >> (2u * c + l / 32u)) & 1u) << 4;
#endif
  uvec2 sm = k4_scale_min(b + 4u, r / 32u);
  return wf16(b) * float(sm.x) * float(q) - wf16(b + 2u) * float(sm.y);
#elif defined(TYPE_Q6_K)
  uint b = row + (e / 256u) * 210u;
  uint r = e % 256u, h = r / 128u, qd = (r % 128u) / 32u, l = r % 32u;
  uint ql = wbyte(b + h * 64u + l + (qd & 1u) * 32u);
  ql = qd < 2u ? ql & 15u : ql >> 4;
  uint q = ql | ((wbyte(b + 128u + h * 32u + l) >> (2u * qd)) & 3u) << 4;
  return wf16(b + 208u) * float(wi8(b + 192u + r / 16u)) * (float(q) - 32.0);
#else
#error "no TYPE_<name> defined"
#endif
}

#if !defined(TYPE_F32) && !defined(TYPE_Q4_K) && !defined(TYPE_Q5_K) && !defined(TYPE_Q6_K)
// Elements e .. e + 3 of a weight row (e a multiple of 4, e + 4 <= k), from one or two word
// loads instead of wval's per element.
vec4 wquad(uint row, uint e) {
#if defined(TYPE_F16) || defined(TYPE_BF16)
  const uint lo = wword(row + 2u * e), hi = wword(row + 2u * e + 4u);
#if defined(TYPE_F16)
  return vec4(unpackHalf2x16(lo), unpackHalf2x16(hi));
#else
  return uintBitsToFloat(uvec4(lo << 16, lo & 0xffff0000u, hi << 16, hi & 0xffff0000u));
#endif
#elif defined(TYPE_Q8_0)
  const uint b = row + (e / 32u) * 34u;
  return wf16(b) * vec4(ivec4(wword(b + 2u + e % 32u)) << ivec4(24, 16, 8, 0) >> 24);
#else  // Q4_0, Q4_1, Q5_0, Q5_1: element j and j + 16 share byte j
  const uint j = e % 32u;
#if defined(TYPE_Q4_0)
  const uint b = row + (e / 32u) * 18u, qs = b + 2u;
#elif defined(TYPE_Q4_1)
  const uint b = row + (e / 32u) * 20u, qs = b + 4u;
#elif defined(TYPE_Q5_0)
  const uint b = row + (e / 32u) * 22u, qs = b + 6u;
#else
  const uint b = row + (e / 32u) * 24u, qs = b + 8u;
#endif
  uvec4 q = nibbles4(wword(qs + (j & 15u)), j < 16u ? 0u : 4u);
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
  q |= ((uvec4(wword(qs - 4u)) >> (uvec4(0u, 1u, 2u, 3u) + j)) & 1u) << 4;
#endif
#if defined(TYPE_Q4_0)
  return wf16(b) * (vec4(q) - 8.0);
#elif defined(TYPE_Q5_0)
  return wf16(b) * (vec4(q) - 16.0);
#else
  return wf16(b) * vec4(q) + wf16(b + 2u);
#endif
#endif
}
#endif
