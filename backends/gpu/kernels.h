// The shared GPU kernels' launch functions, one per op (kernels.cu, compiled once by nvcc for
// the CUDA module and once by hipcc for the HIP module). Plain C++: the host code includes it
// without any vendor header. Pointers are device addresses with the operand's byte offset
// already added; `stream` is the vendor's stream handle. Launch errors are not checked here:
// the caller checks gpuGetLastError() after each launch, naming the op and node.
#pragma once

#include <cstdint>

namespace isomer::gpu {

using Stream = void*;

// Weight and cache types by their GGML ids (isomer::DType values).
enum WType : int {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8,
  kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kBF16 = 30,
};

// Threads per block of every kernel: a multiple of the 64-lane wavefront and the 32-lane warp.
inline constexpr int kBlock = 256;
// Rows of x one matrix-vector block handles; larger batches use the tiled product.
inline constexpr int kVecRows = 8;
// Largest head size the attention kernel takes (query in shared memory).
inline constexpr int kMaxHeadDim = 256;

// y[rows, m] = x[rows, k] w[m, k]^T; w rows `w_stride` bytes apart. For rows <= kVecRows.
void mul_mat_vec(Stream s, int wtype, const float* x, const void* w, float* y, int rows, int k,
                 int m, int64_t w_stride);
// The same, tiled through shared memory (any rows).
void mul_mat_tiled(Stream s, int wtype, const float* x, const void* w, float* y, int rows, int k,
                   int m, int64_t w_stride);
// The same on matrix cores (f16 operands, f32 sums), for the weight types mma_takes().
void mul_mat_mma(Stream s, int wtype, const float* x, const void* w, float* y, int rows, int k,
                 int m, int64_t w_stride);
// F16 and the legacy block types (kernels.cu says why not the others).
bool mma_takes(int wtype);
// Whether mul_mat_mma runs on matrix cores in this module (else it is plain arithmetic, and
// mul_mat_tiled is the better choice).
bool has_matrix_cores();
// x rounded to Q8_K per 256 values as GGML's quantize_row_q8_K_ref, written back as f32.
void quantize_q8k(Stream s, const float* x, float* y, int64_t blocks);
// out[i, c] = dequant(table[ids[i], c]); ids null: out[i, c] = dequant(table[i, c]).
void get_rows(Stream s, int wtype, const void* table, const int32_t* ids, float* out, int64_t n_rows,
              int cols, int64_t stride, int64_t table_rows);
void rms_norm(Stream s, const float* x, const float* w, float* y, int64_t groups, int g, float eps);
void add(Stream s, const float* a, const float* b, float* y, int64_t n, int64_t nb);
void swiglu(Stream s, const float* gate, const float* up, float* y, int64_t n);
// table[r * n_rot + 2i], [.. + 2i + 1]: cos, sin of pair i of row r (host-computed).
void rope(Stream s, const float* x, const float* table, float* y, int64_t n, int cols, int head_dim,
          int n_rot, bool half_split);
// cache[*first + i] = convert(src[i]) for i < n; `first` is read on the device (so that a
// captured graph serves every position).
void store_kv(Stream s, int ctype, const float* src, void* cache, int64_t n, const int64_t* first);
// Causal GQA attention over the caches; *n_past is read on the device.
void attention(Stream s, int ctype, const float* q, const void* k, const void* v, float* out,
               int rows, int heads, int kv_heads, int head_dim, int kv_width,
               const int64_t* n_past, float scale);

}  // namespace isomer::gpu
