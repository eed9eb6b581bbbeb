// Matrix-product dot products computed the way llama.cpp's CPU backend computes them, so that
// isomer's logits carry the same rounding as llama.cpp's. GGML does not multiply f32
// activations with dequantised weights: each weight type has an activation ("vec_dot") type,
// the activation row is converted to it once per product, and the dot product of a weight row
// with a converted row is an integer sum per block, scaled in float:
//   F32 -> F32, F16 -> F16, BF16 -> BF16 (float products, f32 accumulation);
//   Q8_0, Q4_0, Q5_0 -> Q8_0;  Q4_1, Q5_1 -> Q8_1;  Q4_K, Q5_K, Q6_K -> Q8_K.
// Integer sums make this the fast path as well (AVX2 byte multiplies instead of conversions
// to float).
#pragma once

#include <isomer/ops/dtype.h>
#include <isomer/ops/quant_blocks.h>

#include <cstdint>

namespace isomer::cpu {

// The activation-only blocks (DType::Q8_1, DType::Q8_K), GGML's layouts.
// Q8_1, 36 bytes: x[i] ~ d * qs[i], with s = d * sum(qs) (fp16 both) for the weight minimum.
struct BlockQ8_1 {
  static constexpr int kElems = quant::kQK;
  uint16_t d, s;
  int8_t qs[quant::kQK];
};
// Q8_K, 292 bytes: x[i] ~ d * qs[i] (f32 scale), with the sums of each 16 levels.
struct BlockQ8_K {
  static constexpr int kElems = quant::kQK_K;
  float d;
  int8_t qs[quant::kQK_K];
  int16_t bsums[quant::kQK_K / 16];
};
static_assert(sizeof(BlockQ8_1) == 36 && sizeof(BlockQ8_K) == 292);

// The type activations are converted to for a product with `weight` rows (fails for types
// that are not weight types).
DType activation_type(DType weight);

// Converts n f32 activations (n a multiple of the block size) to `act`: F32, F16 and BF16 round
// to nearest even; Q8_0 and Q8_1 as GGML's x86 quantize_row_q8_0/_1 (d = amax/127, levels
// x * 127/amax rounded to nearest even; the reference code rounds x / d half away from zero,
// and the logits we are compared with come from an AVX2 build); Q8_K as quantize_row_q8_K_ref.
void quantize_activation(DType act, const float* x, void* dst, int64_t n);

// Dot product of a weight row of n elements with an activation row converted to
// activation_type(weight). The AVX2 kernels compute GGML's per-block integer sums and combine
// them in float as GGML's x86 kernels do (up to the order of the K-quant minimum terms); the
// portable ones compute the same integer sums.
using VecDotFn = float (*)(const void* w_row, const void* x_act, int64_t n);
VecDotFn vec_dot_fn(DType weight);
float vec_dot(DType weight, const void* w_row, const void* x_act, int64_t n);

// The activation rows dot_rows reads: a row converted to activation_type(weight), followed by
// per-block data that the AVX-512 tiles would otherwise recompute for every few weight rows,
// computed once per matrix product: for Q4_0 and Q8_0 weights a summary of each block
// (ActSummary, for the lane tiles and the decode tiles), then for Q5_0 the levels' offset share by
// fours (ActFours, for its decode tiles and lane tiles); for Q4_0, Q8_0 and Q4_K the
// levels again for the AMX tiles, from levels_offset(weight, n) (a cache line), written only
// where the CPU has them: Q4_K's block after block (a cache line: at a block's offset every
// other block's levels straddled two lines, which halved the tile loads' speed), Q4_0's and
// Q8_0's in groups of kTileRows rows, counted from the first row converted together, in the
// layout of the tile multiply's second operand (below); for Q6_K weights the levels + 128 as
// unsigned bytes (for its lane tiles); for F16 and BF16 weights the row's values widened to F32
// (for the prompt tiles), from widened_offset(weight, n) bytes on.
//
// A group's levels of block i, as the tile multiply takes them: 8 lines of 64 bytes, line k
// holding levels 4k .. 4k+3 of the group's rows 0 .. 15 in turn. Line k is at byte 64 (i / 2)
// of the levels of the group's row 8 (i % 2) + k, so that one tile load with the rows' stride
// reads a block's, and the sixteen rows hold two blocks per 64 bytes. After the lines, the 16
// rows' scales of block i (floats, in row order) at byte 64 (i / 16) of row i % 16's. The
// activation rows take this layout once per product, and the weights are the tiles' first
// operand, which needs none: packed once per call, they are copied, not transposed. A last group
// of fewer rows is laid out as if zeroed rows followed (a product takes their results and
// drops them): dst holds dot_rows_x_rows rows.
constexpr int64_t kTileRows = 16;
constexpr size_t tile_lines_bytes(int64_t nb) { return static_cast<size_t>((nb + 1) / 2 * 64); }
constexpr size_t tile_levels_bytes(int64_t nb) { return tile_lines_bytes(nb) + static_cast<size_t>((nb + 15) / 16 * 64); }
// Where block i's lines and scales start, from the group's first row's levels.
constexpr size_t tile_lines_at(int64_t i, size_t stride) {
  return static_cast<size_t>(i / 2 * 64) + static_cast<size_t>(i % 2 * 8) * stride;
}
constexpr size_t tile_scales_at(int64_t nb, int64_t i, size_t stride) {
  return tile_lines_bytes(nb) + static_cast<size_t>(i / 16 * 64) + static_cast<size_t>(i % 16) * stride;
}

struct ActSummary {
  int32_t neg_offset_sum;  // -(the offset of the weight's levels as the tiles store them: 8, 128) x the levels' sum
  float d;                 // the block's scale
};
struct ActFours {
  int32_t neg_offset[8];  // -(the weight's offset: 8, 16) x the sum of levels 4L..4L+3, in lane L as dot_tile's
};
// Where convert_for_dot_rows wants a Q8_0 row's per-block data (the parts it names; null: not
// wanted), from IsaKernels::block_extras.
struct BlockExtras {
  int32_t summary_offset = 0;
  ActSummary* summaries = nullptr;
  int32_t fours_offset = 0;
  ActFours* fours = nullptr;
};
size_t dot_rows_x_bytes(DType weight, int64_t n);
size_t widened_offset(DType weight, int64_t n);  // 0 for F32 weights, whose activations are F32
size_t levels_offset(DType weight, int64_t n);   // 0 but for Q4_0, Q8_0 and Q4_K weights
// The rows a conversion of `rows` rows writes to: more than `rows` where the AMX tiles' layout
// pads a last group (above).
int64_t dot_rows_x_rows(DType weight, int64_t rows);
// Converts rows [begin, end) of a product's `rows` activation rows of n elements (x_stride
// floats apart from x) for products with `weight` rows, into dst: dot_rows_x_rows(weight, rows)
// rows, dst_stride bytes apart (at least dot_rows_x_bytes(weight, n)). Threads may share a
// conversion, begin and end at multiples of kTileRows (or end = rows). A dot_rows call reads
// rows from the product's first (the groups above).
void convert_for_dot_rows(DType weight, const float* x, int64_t x_stride, void* dst, size_t dst_stride, int64_t rows,
                          int64_t n, int64_t begin, int64_t end);

// The dot products of `rows` weight rows (w_stride bytes apart) with `cols` activation rows
// from convert_for_dot_rows (x_stride apart), out[c * out_stride + r], any number of each (the
// kernels take activation rows a cache-sized block at a time, and pack weights once per call):
// the block types compute them in tiles that share loads and unpacking (prefill, and several
// weight rows at once in decode),
// each to the bit what vec_dot gives, except Q4_0, Q8_0 and Q4_K, which take the order of
// llama.cpp's repacked kernels (one float accumulator per pair, one fused multiply-add of each
// block's integer sum times the product of the scales; Q4_K a second accumulator for its
// minimums, taken off at the end) for any cols. No type's products depend on how many
// activation rows come at once: decode gives a prompt's bits.
using DotRowsFn = void (*)(const void* w, size_t w_stride, int64_t rows, const void* x, size_t x_stride,
                           int64_t cols, int64_t n, float* out, int64_t out_stride);
DotRowsFn dot_rows_fn(DType weight);

// F32, F16 and BF16 rows of at most kShortRowElems elements (attention's heads) against any
// number of activation rows take short_rows (vec_dot_simd.inc) with SIMD: their sums stay in
// registers, and each row fetches the one a few rows on.
constexpr int64_t kShortRowElems = 128;
// Whether decode's attention kernels fetch a KV head's rows ahead themselves: dot_rows of keys
// of head_dim elements (short_rows) and value_sums_f16; not with the portable kernels.
// Attention fetches the rows they do not up front.
bool attention_rows_fetched_ahead(int64_t head_dim);

// Flash attention's value sums for an F16 V cache, as GGML keeps them (VKQ16): for each key j
// in order and each head h, sums = f16(sums x ms[h * keys + j]) where that is not 1 (a new
// maximum), then sums = f16(v_j x vs[h * keys + j] + sums) with one rounding of the fused
// multiply-add. v: the keys' value rows, v_stride elements apart; out: heads x d floats, the
// final sums.
void value_sums_f16(const uint16_t* v, size_t v_stride, int64_t keys, const float* ms, const float* vs, int heads,
                    int64_t d, float* out);

// Attention's scores in a prompt from a KV head's keys in chunks of kKeyChunk, as floats: key
// 16c + j's element e at kt[(c * d + e) * kKeyChunk + j], zero past the last key
// (transpose_keys). A query then takes one multiply-add per element for 16 keys, where dot_rows
// takes one per 16 elements of a key and adds its lanes for every key (a 64-wide head's sums
// across lanes cost as much as its products); the additions are dot_rows's, in its order, so the
// scores are its bits for F32, F16 and BF16 keys of d a multiple of 32.
constexpr int64_t kKeyChunk = 16;
void transpose_keys(DType k_type, const void* k, size_t k_stride, int64_t keys, int64_t d, float* kt);
// out[c * out_stride + j]: query c's product with key j, for the keys' whole chunks (j below keys
// rounded up to kKeyChunk); the queries as dot_rows reads F32 rows (convert_for_dot_rows's
// widened values for F16 and BF16 keys), q_stride floats apart.
void chunk_scores(const float* kt, int64_t keys, int64_t d, const float* q, size_t q_stride, int64_t cols, float* out,
                  int64_t out_stride);

// The online softmax's steps over one head's n scores w, in order: x = w[j] x scale either
// sets a new maximum (m[j] = max - x, w[j] = 0) or not (m[j] = 0, w[j] = x - max), max the
// largest x before j (-inf for the first; a NaN never becomes it). exp_f32 of both then gives
// each key's rescaling of the sums before it and its weight.
void softmax_steps(float* w, float* m, int64_t n, float scale);

// x[i] = e^x[i] in place, to the bits of the C library's expf (std::exp) where that is glibc's
// (2.27 onward; x86-64 runs its FMA build wherever the SIMD sets run): the softmax's
// exponentials, as GGML takes them from expf.
void exp_f32(float* x, int64_t n);

// SwiGLU's elements, y = g / (1 + e^-g) * u in the reference's order (llama.cpp's too). The
// SIMD sets take e^x from a polynomial (llama.cpp's CPU code has its own as well): silu(g)
// within 2.4 ulp of the exact value, 4 ulp of the std::exp form, over g in [-87, 88] (23
// million arguments), every element in the vector lanes (the last few padded), so that its
// result does not depend on where it stands in x; the portable set calls std::exp.
void silu_mul(const float* g, const float* u, float* y, int64_t n);

}  // namespace isomer::cpu
