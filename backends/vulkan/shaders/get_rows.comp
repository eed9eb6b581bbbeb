#version 450
// out[i, c] = table[ids[i], c], dequantised; one invocation per output element.
layout(local_size_x = 256) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 2) writeonly buffer Y { uint ys[]; };
layout(push_constant) uniform P { uint w_off, id_off, y_off, n, cols, w_stride, table_rows; } p;
#define W_BINDING 0
#include "dequant.glsl"

void main() {
  const uint idx = flat_index();
  if (idx >= p.n) return;
  const uint i = idx / p.cols, c = idx % p.cols;
  const int id = ids[p.id_off / 4u + i];
  // Clamped so that a bad id cannot read outside the table.
  const uint row = uint(clamp(id, 0, int(p.table_rows) - 1));
  ys[p.y_off / 4u + idx] = floatBitsToUint(wval(p.w_off + row * p.w_stride, c));
}
