#version 450
// RoPE with the cos/sin table computed on the host (ops rope_angles, the reference's exact
// float arithmetic): table[r * n_rot + 2i], [.. + 2i + 1] for pair i of row r.
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer T { float cs[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint x_off, t_off, y_off, n, cols, head_dim, n_rot, half_split; } p;

void main() {
  const uint idx = flat_index();
  if (idx >= p.n) return;
  const uint r = idx / p.cols, c = idx % p.cols, i = c % p.head_dim, head = c - i;
  const uint x0 = p.x_off / 4u + r * p.cols + head;
  if (i >= p.n_rot) {
    y[p.y_off / 4u + idx] = x[x0 + i];
    return;
  }
  const uint half_rot = p.n_rot / 2u;
  // Adjacent pairs (2k, 2k+1); half-split pairs (k, k + n_rot/2).
  const uint k = p.half_split != 0u ? i % half_rot : i / 2u;
  const uint a = p.half_split != 0u ? k : 2u * k, b = p.half_split != 0u ? k + half_rot : 2u * k + 1u;
  const float co = cs[p.t_off / 4u + r * p.n_rot + 2u * k], si = cs[p.t_off / 4u + r * p.n_rot + 2u * k + 1u];
  const float x0v = x[x0 + a], x1v = x[x0 + b];
  y[p.y_off / 4u + idx] = i == a ? x0v * co - x1v * si : x0v * si + x1v * co;
}
