#include "kernels.h"

#include <isomer/error.h>
#include <isomer/ops/dtype.h>
#include <isomer/ops/norm.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>
#include <vector>

#include "vec_dot.h"

namespace isomer::cpu {
namespace {

// Weight rows handled together: each call's rows are read from memory once and stay in L2
// while all activation rows meet them (dot_rows takes them a block at a time); decode, with one
// activation row, streams the weights. Work is shared out in blocks of kRowBlock rows.
constexpr int64_t kRowBlock = 16;
// The lane tiles pack a call's weights once for all its activation rows, so a call takes more
// rows than a block, while its packed weights stay in L2. pp128 at 2 threads, 16 rows per call before: qwen2.5-0.5b Q4_K_M 292 ->
// 318 tok/s, TinyLlama Q4_K_M 168 -> 196 (128 KiB: 323, 183).
constexpr size_t kCallBytes = 64 << 10;
// Decode packs nothing, and its Q4_K tiles (Q4_0's and Q8_0's too but on AMD's CPUs) take rows
// far apart within a call (dot_rows_block_decode in vec_dot_kernels.inc), so its calls run as
// long as a chunk of the shared loop.
constexpr size_t kDecodeCallBytes = 4 << 20;
constexpr size_t kLine = 64;  // bytes of a cache line, where mat_mul's activation rows start
// Query rows from which attention transposes the keys for its scores (vec_dot.h's
// chunk_scores); decode and short batches read them as they are.
constexpr int64_t kChunkedRows = 16;

// Fetches the first `bytes` of `rows` rows `stride` apart toward the cache (every line they touch).
void prefetch_rows(const uint8_t* p, size_t stride, int64_t rows, size_t bytes) {
  for (int64_t j = 0; j < rows; ++j)
    for (size_t o = 0; o < bytes + 63; o += 64) __builtin_prefetch(p + j * stride + std::min(o, bytes - 1));
}

// The blocks of kRowBlock rows a product's weights take in mat_mul's loop.
int64_t row_blocks(const Product& p) { return (p.w.desc.shape[0] + kRowBlock - 1) / kRowBlock; }

}  // namespace

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(1, cols)); }

int64_t dot_rows_call_rows(size_t w_stride, int64_t cols) {
  const size_t bytes = cols == 1 ? kDecodeCallBytes : kCallBytes;
  return std::max<int64_t>(1, static_cast<int64_t>(bytes / w_stride) / kRowBlock) * kRowBlock;
}

std::span<const uint8_t> first_weights(const ThreadPool& pool, std::span<const Product> products, int t) {
  int64_t blocks = 0;
  for (const Product& p : products) blocks += row_blocks(p);
  int64_t b = pool.share_begin(blocks, 1, t), end = pool.share_begin(blocks, 1, t + 1);
  for (const Product& p : products) {
    const int64_t n = row_blocks(p);
    if (b < n) {
      const size_t stride = row_bytes(p.w.desc.type, p.w.desc.cols());
      const int64_t first = b * kRowBlock, last = std::min(p.w.desc.shape[0], std::min(end, n) * kRowBlock);
      return {p.w.as<const uint8_t>() + first * stride, static_cast<size_t>(std::max<int64_t>(0, last - first)) * stride};
    }
    b -= n;
    end -= n;
  }
  return {};
}

void mat_mul(ThreadPool& pool, MatMulScratch& scratch, const TensorView& x, std::span<const Product> products) {
  const int64_t rows = x.desc.rows(), k = x.desc.cols();
  const float* xp = x.as<const float>();
  // The activations as dot_rows reads them (vec_dot.h), converted once per weight type;
  // f32 rows are read as they are. Rows start on cache lines: the tiles' 64-byte loads of rows
  // 16 bytes off (a large vector's start) each touched two lines, and F16 prompt tiles from L2
  // ran about 10 % slower so.
  using Conversion = MatMulScratch::Conversion;
  std::vector<Conversion>& conversions = scratch.conversions;
  std::vector<MatMulScratch::Part>& parts = scratch.parts;
  conversions.clear();
  parts.clear();
  conversions.reserve(products.size());  // parts point into it
  size_t scratch_bytes = 0;
  int64_t blocks = 0;
  for (const Product& p : products) {
    const DType type = p.w.desc.type;
    const Conversion* act = nullptr;
    if (type != DType::F32) {
      auto it = std::ranges::find(conversions, type, &Conversion::type);
      if (it == conversions.end()) {
        it = conversions.insert(it, {type, scratch_bytes, (dot_rows_x_bytes(type, k) + kLine - 1) / kLine * kLine});
        scratch_bytes += static_cast<size_t>(dot_rows_x_rows(type, rows)) * it->stride;
      }
      act = &*it;
    }
    const size_t w_stride = row_bytes(type, k);
    parts.push_back({dot_rows_fn(type), w_stride, blocks, dot_rows_call_rows(w_stride, rows), act});
    blocks += row_blocks(p);
  }
  std::vector<uint8_t>& bytes = scratch.activations;
  bytes.resize(std::max(bytes.size(), scratch_bytes + kLine - 1));
  uint8_t* const base = bytes.data() + (kLine - reinterpret_cast<uintptr_t>(bytes.data()) % kLine) % kLine;
  // In groups of kTileRows rows, which the AMX tiles read together (vec_dot.h).
  if (!conversions.empty())
    pool.parallel_for((rows + kTileRows - 1) / kTileRows, 1, [&](int64_t begin, int64_t end) {
      const int64_t r0 = begin * kTileRows, r1 = std::min(rows, end * kTileRows);
      for (const Conversion& c : conversions)
        convert_for_dot_rows(c.type, xp, k, base + c.at, c.stride, rows, k, r0, r1);
    });
  pool.parallel_for(blocks, 1, [&](int64_t begin, int64_t end) {
    for (size_t i = 0; i < products.size(); ++i) {
      const MatMulScratch::Part& part = parts[i];
      const TensorView &w = products[i].w, &out = products[i].out;
      const int64_t m = w.desc.shape[0];
      const int64_t first = std::max<int64_t>(0, begin - part.first_block) * kRowBlock;
      const int64_t last = std::min(m, (end - part.first_block) * kRowBlock);
      const auto* ap = part.act ? base + part.act->at : reinterpret_cast<const uint8_t*>(xp);
      const size_t a_stride = part.act ? part.act->stride : dot_rows_x_bytes(DType::F32, k);
      for (int64_t j0 = first; j0 < last; j0 += part.call_rows)
        part.dot(w.as<const uint8_t>() + j0 * part.w_stride, part.w_stride, std::min(last, j0 + part.call_rows) - j0,
                 ap, a_stride, rows, k, out.as<float>() + j0, m);
    }
  });
}

namespace {
// attention's work memory, one per thread, kept between calls (decode runs attention once a
// layer). Its largest part, block, holds 4 query rows' scores for the query heads of a KV head
// (qwen2.5-0.5b at 4,096 positions: 0.46 MB).
struct AttentionScratch {
  std::vector<uint8_t> qa;  // the query heads as dot_rows reads them
  // block: the block's products with its last row's keys; scores: one row's, then in place
  // each key's weight (vs); ms: each key's rescaling of the sums before it (1 but on a new
  // maximum).
  std::vector<float> block, scores, ms, acc, vrow, sum;
};

// Each of n heads' softmax denominators, key by key: sum = sum * m + w (m: the key's rescaling,
// w: its weight; heads keys apart in ms and ws). The heads' chains interleave in registers, N
// at a time: as an array in memory, each step waited on the store of the step before
// (qwen2.5-0.5b decode at 2,048 positions: 8.5-8.6 us per KV head and layer, now 4.8-5.0).
template <int N>
void softmax_sums(const float* ms, const float* ws, int64_t keys, float* sum) {
  float s[N] = {};
  for (int64_t j = 0; j < keys; ++j)
    for (int g = 0; g < N; ++g) s[g] = s[g] * ms[g * keys + j] + ws[g * keys + j];
  std::copy_n(s, N, sum);
}
void softmax_sums(const float* ms, const float* ws, int64_t keys, int n, float* sum) {
  constexpr int kTogether = 8;
  using SumsFn = void (*)(const float*, const float*, int64_t, float*);
  static constexpr auto kSums = []<int... i>(std::integer_sequence<int, i...>) {
    return std::array<SumsFn, sizeof...(i)>{&softmax_sums<i + 1>...};
  }(std::make_integer_sequence<int, kTogether>());
  for (int g = 0; g < n; g += kTogether) {
    const int64_t at = g * keys;
    kSums[static_cast<size_t>(std::min(kTogether, n - g) - 1)](ms + at, ws + at, keys, sum + g);
  }
}
}  // namespace

// As llama.cpp's CPU flash attention (its default) computes it, to carry the same rounding:
// the query converted to the K cache's activation type (F16 for an F16 cache) and dotted with
// each key as vec_dot does; one online-softmax pass over the keys in order; the weighted values
// accumulated in F16 for an F16 V cache (rounded after every key, as GGML's VKQ16), otherwise
// in f32. The dot products with all keys come first, from dot_rows, as they do not depend on
// the softmax; then each key's weight and rescaling, and the value sums from those. The query
// heads that share a KV head go together: their keys and values are read once, and their value
// sums, each a chain of roundings, interleave key by key (vec_dot.h's value_sums_f16).
void attention(ThreadPool& pool, const AttentionParams& p, const TensorView& q,
               const TensorView& k, const TensorView& v, const TensorView& out) {
  const int64_t rows = q.desc.rows(), d = p.head_dim, kv_width = k.desc.cols();
  const DType k_type = k.desc.type, v_type = v.desc.type;
  const DotRowsFn dot = dot_rows_fn(k_type);
  // Several activation rows give the lone dot products' bits for these types only (vec_dot.h).
  const bool heads_together = k_type == DType::F32 || k_type == DType::F16 || k_type == DType::BF16;
  const size_t kv_stride = row_bytes(k_type, kv_width), head_bytes = row_bytes(k_type, d);
  const size_t v_stride = row_bytes(v_type, v.desc.cols()), v_head_bytes = row_bytes(v_type, d);
  const size_t qa_bytes = dot_rows_x_bytes(k_type, d);
  const int group = p.heads / p.kv_heads;
  const auto* kp = k.as<const uint8_t>();
  const auto* vp = v.as<const uint8_t>();
  // Where the heads go together, consecutive query rows do as well: one dot_rows call for their
  // rows x group activation rows, whose tiles convert and read each key once for more of them
  // (qwen2.5's 7 query heads per KV head left a tile one activation row wide per query row).
  // Each row then takes its own keys' products (the same bits as alone: vec_dot.h).
  const int64_t together = heads_together ? 4 : 1, blocks = (rows + together - 1) / together;
  // Prompts take their scores from the keys in chunks (vec_dot.h's chunk_scores), each KV
  // head's transposed once for all its query rows. Decode reads each key once per token, and a
  // transposed copy would read and write it again.
  const bool chunked = heads_together && d % 32 == 0 && rows >= kChunkedRows;
  const bool keys_ahead = rows == 1 && attention_rows_fetched_ahead(d);  // and values (F16)
  const int64_t all_keys = p.n_past + rows, kt_floats = (all_keys + kKeyChunk - 1) / kKeyChunk * kKeyChunk * d;
  std::vector<float> kt(chunked ? static_cast<size_t>(kt_floats * p.kv_heads) : 0);
  if (chunked)
    pool.parallel_for(p.kv_heads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t h = begin; h < end; ++h)
        transpose_keys(k_type, kp + h * head_bytes, kv_stride, all_keys, d, kt.data() + h * kt_floats);
    });
  // One task per (block of query rows, KV head): rows see different numbers of keys (causal),
  // so many small tasks balance better than a few large ones.
  pool.parallel_for(blocks * p.kv_heads, 1, [&](int64_t begin, int64_t end) {
    thread_local AttentionScratch scratch;
    auto& [qa, block, scores, ms, acc, vrow, sum] = scratch;
    qa.assign(static_cast<size_t>((together - 1) * group + dot_rows_x_rows(k_type, group)) * qa_bytes, 0);
    acc.assign(static_cast<size_t>(group * d), 0.0f);
    vrow.resize(static_cast<size_t>(d));
    sum.resize(static_cast<size_t>(group));
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r0 = t / p.kv_heads * together, r1 = std::min(rows, r0 + together), block_keys = p.n_past + r1;
      const int kv_head = static_cast<int>(t % p.kv_heads);
      const uint8_t* kh = kp + static_cast<size_t>(kv_head) * head_bytes;
      const uint8_t* vh = vp + static_cast<size_t>(kv_head) * v_head_bytes;
      // The weights stream through the caches between layers, so the head's keys and values
      // come from DRAM, a cache row apart. Prompts fetch them all at once up front, so that
      // their misses overlap instead of the dot products and value sums waiting on each
      // (TinyLlama Q4_0 decode attention 0.110-0.112 s per 128 steps against 0.158-0.162; with
      // the cache in L2, 0.072-0.076); a chunk's later rows find them cached. Decode's SIMD
      // kernels fetch each row a few rows ahead instead, so that the fetches overlap the
      // arithmetic (qwen2.5-0.5b at 2,048 positions: 122-128 against 169-173 us per KV head and
      // layer); what they do not fetch is fetched up front.
      if (t - begin < p.kv_heads) {
        if (!(keys_ahead && heads_together)) prefetch_rows(kh, kv_stride, block_keys, head_bytes);
        if (!(keys_ahead && v_type == DType::F16)) prefetch_rows(vh, v_stride, block_keys, v_head_bytes);
      }
      const int64_t columns = (r1 - r0) * group;  // query heads, row by row
      for (int64_t r = r0; r < r1; ++r)  // the row's query heads of this KV head
        convert_for_dot_rows(k_type, q.as<const float>() + (r * p.heads + kv_head * group) * d, d,
                             qa.data() + (r - r0) * group * qa_bytes, qa_bytes, group, d, 0, group);
      // The block's scores, a row of block_stride per query head (whole chunks where chunked).
      const int64_t block_stride = chunked ? (block_keys + kKeyChunk - 1) / kKeyChunk * kKeyChunk : block_keys;
      if (chunked) {
        block.resize(static_cast<size_t>(columns * block_stride));
        chunk_scores(kt.data() + kv_head * kt_floats, block_keys, d,
                     reinterpret_cast<const float*>(qa.data() + widened_offset(k_type, d)), qa_bytes / sizeof(float),
                     columns, block.data(), block_stride);
      } else if (heads_together) {
        block.resize(static_cast<size_t>(columns * block_keys));
        dot(kh, kv_stride, block_keys, qa.data(), qa_bytes, columns, d, block.data(), block_keys);
      }
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t keys = p.n_past + r + 1;
        const uint8_t* qr = qa.data() + (r - r0) * group * qa_bytes;
        scores.resize(static_cast<size_t>(group * keys));
        ms.resize(scores.size());
        for (int g = 0; g < group; ++g)
          if (heads_together)
            std::copy_n(block.data() + ((r - r0) * group + g) * block_stride, keys, scores.data() + g * keys);
          else
            dot(kh, kv_stride, keys, qr + g * qa_bytes, qa_bytes, 1, d, scores.data() + g * keys, keys);
        // Each key either sets a new maximum, rescaling the sums before it by e^(max - x), or is
        // weighed by e^(x - max); the other factor is e^0 = 1. The exponents first, then all of
        // them at once (exp_f32: expf's bits, in SIMD).
        for (int g = 0; g < group; ++g) softmax_steps(scores.data() + g * keys, ms.data() + g * keys, keys, p.scale);
        exp_f32(ms.data(), static_cast<int64_t>(ms.size()));
        exp_f32(scores.data(), static_cast<int64_t>(scores.size()));
        // The heads' sums interleaved key by key: each is a chain of dependent steps, which one
        // head at a time waited out step by step (44 % of this loop's samples in a qwen2.5
        // 512-token prompt). Each head's chain is the same either way.
        softmax_sums(ms.data(), scores.data(), keys, group, sum.data());
        const float* vs = scores.data();
        if (v_type == DType::F16) {
          value_sums_f16(reinterpret_cast<const uint16_t*>(vh), v_stride / 2, keys, ms.data(), vs, group, d, acc.data());
        } else {
          std::fill(acc.begin(), acc.end(), 0.0f);
          for (int64_t j = 0; j < keys; ++j) {
            dequantize_row(v_type, vh + j * v_stride, vrow.data(), d);
            for (int g = 0; g < group; ++g) {
              const float m = ms[static_cast<size_t>(g * keys + j)], w = vs[static_cast<size_t>(g * keys + j)];
              float* a = acc.data() + g * d;
              for (int64_t i = 0; i < d; ++i) a[i] = std::fma(vrow[i], w, a[i] * m);
            }
          }
        }
        float* y = out.as<float>() + (r * p.heads + static_cast<int64_t>(kv_head) * group) * d;
        for (int g = 0; g < group; ++g)
          for (int64_t i = 0; i < d; ++i) y[g * d + i] = acc[g * d + i] * (1 / sum[g]);
      }
    }
  });
}

void rms_norm(ThreadPool& pool, const RmsNormParams& p, const TensorView& x, const TensorView& w,
              const TensorView& out) {
  const int64_t g = w.desc.elements(), groups = x.desc.elements() / g;
  const float* wp = w.as<const float>();
  pool.parallel_for(groups, row_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* xs = x.as<const float>() + i * g;
      const float scale = 1.0f / std::sqrt(static_cast<float>(sum_of_squares(xs, g) / g) + p.eps);
      float* y = out.as<float>() + i * g;
      for (int64_t j = 0; j < g; ++j) y[j] = xs[j] * scale * wp[j];
    }
  });
}

void swiglu(ThreadPool& pool, const TensorView& g, const TensorView& u, const TensorView& out) {
  // Elementwise, in chunks of at least 8192 elements (a few microseconds each).
  pool.parallel_for(out.desc.elements(), 8192, [&](int64_t begin, int64_t end) {
    silu_mul(g.as<const float>() + begin, u.as<const float>() + begin, out.as<float>() + begin, end - begin);
  });
}

// The reference's conversion (quantize_row) row by row in parallel; F16 in SIMD, to its bits
// (a prompt's K and V rows, converted one element at a time on one thread, were 1-2 % of it).
void store_kv(ThreadPool& pool, const StoreKVParams& p, const TensorView& rows, const TensorView& cache) {
  const int64_t cols = rows.desc.cols();
  const DType type = cache.desc.type;
  const size_t stride = row_bytes(type, cols);
  const bool activation = type == DType::F32 || type == DType::F16 || type == DType::BF16;
  pool.parallel_for(rows.desc.rows(), row_grain(cols), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* x = rows.as<const float>() + r * cols;
      uint8_t* y = cache.as<uint8_t>() + (p.first_row + r) * stride;
      if (activation) quantize_activation(type, x, y, cols);
      else quantize_row(type, x, y, cols);
    }
  });
}

}  // namespace isomer::cpu
