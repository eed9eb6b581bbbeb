#version 450
// y[r, j] = sum_e x[r, e] * w[j, e] for products of many activation rows (prefill). A workgroup
// computes a tile of BM weight rows by BN activation rows, stepping through k in shared memory:
// the weights are dequantised once per step and reused by all BN activation rows, and each of
// the 64 invocations (an 8 x 8 grid) accumulates a TM x TN register micro-tile (weight rows
// tm + 8 i, activation rows tn + 8 j). On lavapipe every load costs about the same whatever its
// width, so what counts is loads per multiply-add: each 16-byte shared load feeds TN (or TM)
// products of 4 f32 values or, for K-quants, of 16 byte levels. Shared memory stays within the
// 16 KiB every Vulkan device offers.
//
// K-quant weights (Q8K) compute what the CPU backend (and GGML's CPU) computes: activations come
// as Q8_K levels from quantize_q8k.comp; level products are summed in int per sub-block and
// combined with the weight's integer sub-block scales (Q4_K / Q5_K: its minimums with the
// activation's block sums) in int; only the scaling of each super-block and the sum over
// super-blocks are float, so the order of the sums inside a block cannot move the result.
// F16, BF16 and the legacy quants take f32 activations and f32 dequantised weights, k stepped
// 32 elements (a legacy block) at a time, each step's sum added to the total as the CPU adds
// per block. (F32 products run as mul_mv; see ops.cpp.)
layout(local_size_x = 64) in;
#include "common.glsl"
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K) || defined(TYPE_Q6_K)
#define Q8K 1
#endif
#define BM 32  // weight rows per workgroup
#define BN 32  // activation rows per workgroup
#define TM 4   // BM / 8
#define TN 4   // BN / 8
layout(std430, binding = 0) readonly buffer X { float xs[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 xs4[]; };  // when p.x_vec4 != 0
layout(std430, binding = 0) readonly buffer XQ { uvec4 xq4[]; };  // Q8_K levels, block sums
layout(std430, binding = 2) writeonly buffer Y { float ys[]; };
layout(push_constant) uniform P { uint x_off, w_off, y_off, rows, k, m, w_stride, x_vec4; } p;
#define W_BINDING 1
#include "dequant.glsl"

uint tm, tn;  // this invocation's place in the 8 x 8 grid
float acc[TM * TN];

#if defined(Q8K)
#if defined(TYPE_Q6_K)
#define SUBU 1u      // uvec4s (16 levels each) per sub-block: Q6_K has 16 sub-blocks of 16
#define BLOCK_BYTES 210u
#else
#define K4 1         // Q4_K, Q5_K: 8 sub-blocks of 32, with minimums
#define SUBU 2u
#if defined(TYPE_Q4_K)
#define BLOCK_BYTES 144u
#else
#define BLOCK_BYTES 176u
#endif
#endif
#define NSUB (16u / SUBU)  // sub-blocks per super-block
// A step is half a super-block (128 levels = 8 uvec4 per row); scales are staged once per
// super-block.
shared uvec4 wl[BM][8];   // weight levels, unsigned bytes
shared uvec4 xl[BN][8];   // activation levels, signed bytes
shared int wsc[BM][16];   // the weight rows' sub-block scales
#if defined(K4)
shared int wmn[BM][8];    // and minimums
shared float wdm[BM];
#endif
shared float wd[BM];
shared int xbs[BN][16];   // the activation rows' sums of 16 levels
shared float xd[BN];

// The levels of elements 4w .. 4w + 15 of the super-block at byte b (w a multiple of 4), four to
// a word as unsigned bytes (Q6_K's offset of 32 is applied to the sums, as an integer, through
// the activation block sums).
uvec4 klevels(uint b, uint w) {
  const uint l = 4u * (w % 8u), g = w / 8u;  // g: the 32-element group
  uint lo[4], hi[4];
#if defined(TYPE_Q6_K)
  const uint h = g / 4u, qd = g % 4u;
  wwords4(b + 64u * h + 32u * (qd & 1u) + l, lo);
  wwords4(b + 128u + 32u * h + l, hi);
  const uvec4 q = (uvec4(lo[0], lo[1], lo[2], lo[3]) >> (qd < 2u ? 0u : 4u)) & 0x0f0f0f0fu;
  return q | ((uvec4(hi[0], hi[1], hi[2], hi[3]) >> (2u * qd)) & 0x03030303u) << 4;
#elif defined(TYPE_Q4_K)
  wwords4(b + 16u + 32u * (g / 2u) + l, lo);
  return (uvec4(lo[0], lo[1], lo[2], lo[3]) >> (4u * (g & 1u))) & 0x0f0f0f0fu;
#else
  wwords4(b + 48u + 32u * (g / 2u) + l, lo);
  wwords4(b + 16u + l, hi);
  return ((uvec4(lo[0], lo[1], lo[2], lo[3]) >> (4u * (g & 1u))) & 0x0f0f0f0fu) |
         ((uvec4(hi[0], hi[1], hi[2], hi[3]) >> g) & 0x01010101u) << 4;
#endif
}

void product(uint j0, uint r0) {
  const uint blocks = p.k / 256u, all = p.rows * blocks, t = gl_LocalInvocationID.x;
  // The quantised activations: levels (rows x k bytes), then 16 sums per block, then d per block.
  const uint sums = (p.x_off + p.rows * p.k) / 16u, ds = (p.x_off + p.rows * p.k) / 4u + all * 16u;
  float mins[TM * TN];
  for (uint i = 0u; i < TM * TN; ++i) mins[i] = 0.0;
  for (uint kb = 0u; kb < blocks; ++kb) {
    int isum[TM * TN];
    for (uint i = 0u; i < TM * TN; ++i) isum[i] = 0;
    for (uint hh = 0u; hh < 2u; ++hh) {
      barrier();
      for (uint i = t; i < BM * 8u; i += 64u) {
        const uint r = i / 8u, w = hh * 32u + (i % 8u) * 4u;
        const uint b = p.w_off + min(j0 + r, p.m - 1u) * p.w_stride + kb * BLOCK_BYTES;
        wl[r][i % 8u] = klevels(b, w);
      }
      for (uint i = t; i < BN * 8u; i += 64u) {
        const uint row = min(r0 + i / 8u, p.rows - 1u);
        xl[i / 8u][i % 8u] = xq4[p.x_off / 16u + (row * p.k + kb * 256u + hh * 128u) / 16u + i % 8u];
      }
      if (hh == 0u && t < BN) {  // the activation rows' scale and sums
        const uint blk = min(r0 + t, p.rows - 1u) * blocks + kb;
        xd[t] = xs[ds + blk];
        for (uint g = 0u; g < 4u; ++g) {
          const ivec4 s = ivec4(xq4[sums + blk * 4u + g]);
          for (uint c = 0u; c < 4u; ++c) xbs[t][4u * g + c] = s[c];
        }
      } else if (hh == 0u && t >= 64u - BM) {  // the weight rows' scales
        const uint r = t - (64u - BM);
        const uint b = p.w_off + min(j0 + r, p.m - 1u) * p.w_stride + kb * BLOCK_BYTES;
#if defined(K4)
        uint hdr[4];  // d, dmin; the scales (see scales_k4)
        wwords4(b, hdr);
        wd[r] = unpackHalf2x16(hdr[0]).x;
        wdm[r] = unpackHalf2x16(hdr[0]).y;
        const uint u0 = hdr[1], u1 = hdr[2], u2 = hdr[3];
        const uvec4 s0 = bytes4(u0 & 0x3f3f3f3fu), m0 = bytes4(u1 & 0x3f3f3f3fu);
        const uvec4 s1 = bytes4((u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4);
        const uvec4 m1 = bytes4(((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4);
        for (uint c = 0u; c < 4u; ++c) {
          wsc[r][c] = int(s0[c]);
          wsc[r][c + 4u] = int(s1[c]);
          wmn[r][c] = int(m0[c]);
          wmn[r][c + 4u] = int(m1[c]);
        }
#else
        wd[r] = wf16(b + 208u);
        uint sc[4];
        wwords4(b + 192u, sc);
        for (uint g = 0u; g < 4u; ++g) {
          const ivec4 s = ivec4(sc[g]) << ivec4(24, 16, 8, 0) >> 24;
          for (uint c = 0u; c < 4u; ++c) wsc[r][4u * g + c] = s[c];
        }
#endif
      }
      barrier();
      for (uint sb = 0u; sb < NSUB / 2u; ++sb) {
        int s[TM * TN];
        for (uint i = 0u; i < TM * TN; ++i) s[i] = 0;
        for (uint u = sb * SUBU; u < (sb + 1u) * SUBU; ++u) {
          uvec4 a[TM], x[TN];
          for (uint i = 0u; i < TM; ++i) a[i] = wl[tm + 8u * i][u];
          for (uint j = 0u; j < TN; ++j) x[j] = xl[tn + 8u * j][u];
          for (uint c = 0u; c < 4u; ++c) {
            ivec4 av[TM], xv[TN];
            for (uint i = 0u; i < TM; ++i) av[i] = ivec4(bytes4(a[i][c]));
            for (uint j = 0u; j < TN; ++j) xv[j] = ivec4(x[j][c]) << ivec4(24, 16, 8, 0) >> 24;
            for (uint i = 0u; i < TM; ++i)
              for (uint j = 0u; j < TN; ++j) {
                const ivec4 pr = av[i] * xv[j];
                s[i * TN + j] += (pr.x + pr.y) + (pr.z + pr.w);
              }
          }
        }
        const uint g = hh * (NSUB / 2u) + sb;  // the sub-block within the super-block
        for (uint i = 0u; i < TM; ++i)
          for (uint j = 0u; j < TN; ++j) {
#if defined(K4)
            const int v = s[i * TN + j];
#else
            const int v = s[i * TN + j] - 32 * xbs[tn + 8u * j][g];
#endif
            isum[i * TN + j] += wsc[tm + 8u * i][g] * v;
          }
      }
    }
#if defined(K4)
    int msum[TM * TN];
    for (uint i = 0u; i < TM * TN; ++i) msum[i] = 0;
    for (uint g = 0u; g < 8u; ++g) {
      int mn[TM], xsum[TN];
      for (uint i = 0u; i < TM; ++i) mn[i] = wmn[tm + 8u * i][g];
      for (uint j = 0u; j < TN; ++j) xsum[j] = xbs[tn + 8u * j][2u * g] + xbs[tn + 8u * j][2u * g + 1u];
      for (uint i = 0u; i < TM; ++i)
        for (uint j = 0u; j < TN; ++j) msum[i * TN + j] += mn[i] * xsum[j];
    }
#endif
    for (uint i = 0u; i < TM; ++i)
      for (uint j = 0u; j < TN; ++j) {
        const float dx = xd[tn + 8u * j];
        acc[i * TN + j] += (dx * wd[tm + 8u * i]) * float(isum[i * TN + j]);
#if defined(K4)
        mins[i * TN + j] -= (dx * wdm[tm + 8u * i]) * float(msum[i * TN + j]);
#endif
      }
  }
  // As the CPU does, the minimums' share is summed apart and added last.
  for (uint i = 0u; i < TM * TN; ++i) acc[i] += mins[i];
}

#else  // f32 activations, weights dequantised to f32

shared vec4 wf[BM][8];  // 32 elements of k
shared vec4 xf[BN][8];

void product(uint j0, uint r0) {
  const uint t = gl_LocalInvocationID.x;
  for (uint k0 = 0u; k0 < p.k; k0 += 32u) {
    barrier();
    for (uint i = t; i < BM * 8u; i += 64u) {
      const uint row = p.w_off + min(j0 + i / 8u, p.m - 1u) * p.w_stride, e = k0 + (i % 8u) * 4u;
      vec4 w = vec4(0.0);  // zero past k (a partial last step of float weights)
      if (e + 4u <= p.k) w = wquad(row, e);
      else
        for (uint c = 0u; e + c < p.k; ++c) w[c] = wval(row, e + c);
      wf[i / 8u][i % 8u] = w;
    }
    for (uint i = t; i < BN * 8u; i += 64u) {
      const uint e = k0 + (i % 8u) * 4u, a = p.x_off / 4u + min(r0 + i / 8u, p.rows - 1u) * p.k + e;
      vec4 x = vec4(0.0);
      if (e + 4u <= p.k) x = p.x_vec4 != 0u ? xs4[a >> 2] : vec4(xs[a], xs[a + 1u], xs[a + 2u], xs[a + 3u]);
      else
        for (uint c = 0u; e + c < p.k; ++c) x[c] = xs[a + c];
      xf[i / 8u][i % 8u] = x;
    }
    barrier();
    float s[TM * TN];
    for (uint i = 0u; i < TM * TN; ++i) s[i] = 0.0;
    for (uint u = 0u; u < 8u; ++u) {
      vec4 a[TM], x[TN];
      for (uint i = 0u; i < TM; ++i) a[i] = wf[tm + 8u * i][u];
      for (uint j = 0u; j < TN; ++j) x[j] = xf[tn + 8u * j][u];
      for (uint i = 0u; i < TM; ++i)
        for (uint j = 0u; j < TN; ++j) s[i * TN + j] += dot(a[i], x[j]);
    }
    for (uint i = 0u; i < TM * TN; ++i) acc[i] += s[i];
  }
}
#endif

void main() {
  const uint j0 = group_index() * BM, r0 = gl_WorkGroupID.z * BN;
  if (j0 >= p.m) return;  // whole workgroup: uniform
  tm = gl_LocalInvocationID.x % 8u;
  tn = gl_LocalInvocationID.x / 8u;
  for (uint i = 0u; i < TM * TN; ++i) acc[i] = 0.0;
  product(j0, r0);
  for (uint i = 0u; i < TM; ++i)
    for (uint j = 0u; j < TN; ++j) {
      const uint r = j0 + tm + 8u * i, c = r0 + tn + 8u * j;
      if (r < p.m && c < p.rows) ys[p.y_off / 4u + c * p.m + r] = acc[i * TN + j];
    }
}
