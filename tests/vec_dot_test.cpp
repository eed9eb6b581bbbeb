// The CPU backend's activation conversion and weight-row dot products (backends/cpu/vec_dot.h)
// against an independent computation from the block definitions: weights dequantised by the
// ops/ reference, activations dequantised from their blocks, dot product in double.
#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/ops/dtype.h>
#include <isomer/ops/quant_blocks.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/thread_pool.h"
#include "cpu/vec_dot.h"
#include "cpu/vec_dot_isa.h"

namespace isomer {
namespace {

using cpu::BlockQ8_1;
using cpu::BlockQ8_K;

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                              DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Normal values with a spread of magnitudes per block of 32, an outlier and an all-zero block,
// so that block scales differ and the zero-scale path is taken.
std::vector<float> activations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = normal(rng) * std::exp2(static_cast<float>((i / 32) % 5) - 2);
  if (n >= 512) {
    std::fill_n(x.begin() + 256, 256, 0.0f);
    x[7] = 40.0f;
  }
  return x;
}

std::vector<float> dequantized_activation(DType act, const void* a, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  if (act == DType::Q8_1) {
    const auto* b = static_cast<const BlockQ8_1*>(a);
    for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(b[i / 32].d) * b[i / 32].qs[i % 32];
  } else if (act == DType::Q8_K) {
    const auto* b = static_cast<const BlockQ8_K*>(a);
    for (int64_t i = 0; i < n; ++i) y[i] = b[i / 256].d * b[i / 256].qs[i % 256];
  } else {
    dequantize_row(act, a, y.data(), n);
  }
  return y;
}

// GGML's Q8_1 carries its block sum as s = fp16(d * sum(q)), and the dot product applies a
// Q4_1 / Q5_1 weight minimum m to s rather than to fp16(d) * sum(q): the difference, per block.
double q8_1_sum_correction(DType weight, const void* w, const void* a, int64_t n) {
  if (weight != DType::Q4_1 && weight != DType::Q5_1) return 0;
  const auto* ab = static_cast<const BlockQ8_1*>(a);
  double c = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const float m = weight == DType::Q4_1 ? fp16_to_f32(static_cast<const quant::BlockQ4_1*>(w)[b].m)
                                          : fp16_to_f32(static_cast<const quant::BlockQ5_1*>(w)[b].m);
    int sum = 0;
    for (int8_t q : ab[b].qs) sum += q;
    c += double{m} * (double{fp16_to_f32(ab[b].s)} - double{fp16_to_f32(ab[b].d)} * sum);
  }
  return c;
}

class VecDot : public testing::TestWithParam<DType> {};

TEST_P(VecDot, MatchesDequantizedDoubleDot) {
  const DType type = GetParam();
  const DType act = cpu::activation_type(type);
  const int64_t block = traits(type).block_elems;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<int64_t> sizes = {block * 3, 1024 / block * block};  // odd block count; several
  if (block == 1) sizes.insert(sizes.end(), {1, 7, 172});          // tails of the 32-wide loop
  for (int64_t n : sizes) {
    std::vector<float> wf(static_cast<size_t>(n));
    for (float& v : wf) v = normal(rng) * 0.1f;
    std::vector<uint8_t> w(row_bytes(type, n)), a(row_bytes(act, n));
    quantize_row(type, wf.data(), w.data(), n);
    dequantize_row(type, w.data(), wf.data(), n);
    const std::vector<float> x = activations(n, rng);
    cpu::quantize_activation(act, x.data(), a.data(), n);
    const std::vector<float> xq = dequantized_activation(act, a.data(), n);

    double want = q8_1_sum_correction(type, w.data(), a.data(), n), magnitude = 0;
    for (int64_t i = 0; i < n; ++i) {
      want += double{wf[i]} * xq[i];
      magnitude += std::abs(double{wf[i]} * xq[i]);
    }
    const float got = cpu::vec_dot(type, w.data(), a.data(), n);
    EXPECT_NEAR(got, want, 1e-5 * magnitude) << dtype_name(type) << " n=" << n;
  }
}

// The instruction sets this CPU runs, the portable one first.
std::vector<cpu::Isa> runnable_isas() {
  std::vector<cpu::Isa> isas;
  for (cpu::Isa isa : {cpu::Isa::Portable, cpu::Isa::Avx2, cpu::Isa::Avx512, cpu::Isa::Amx})
    if (isa <= cpu::detected_isa()) isas.push_back(isa);
  return isas;
}

// Every instruction set this CPU runs, each with the AVX-512 decode's bit shuffles off and, for
// AVX-512 on a CPU that has them, on (bit_shuffles()).
std::vector<std::pair<cpu::Isa, bool>> kernel_variants() {
  const bool native = cpu::bit_shuffles();
  cpu::set_bit_shuffles(true);
  const bool has = cpu::bit_shuffles();
  cpu::set_bit_shuffles(native);
  std::vector<std::pair<cpu::Isa, bool>> variants;
  for (cpu::Isa isa : runnable_isas()) {
    variants.emplace_back(isa, false);
    if (has && isa >= cpu::Isa::Avx512) variants.emplace_back(isa, true);
  }
  return variants;
}

// The AVX2 and AVX-512 kernels against the portable ones on the same blocks: the same
// activation blocks and bit-identical dot products (every path keeps the AVX2 lanes and their
// order; VNNI's int8 sums are the same integers).
TEST_P(VecDot, SimdAndPortableKernelsAgree) {
  if (cpu::detected_isa() == cpu::Isa::Portable)
    GTEST_SKIP() << "this CPU has no AVX2: only the portable kernels run";
  const DType type = GetParam(), act = cpu::activation_type(type);
  const cpu::IsaKernels& portable = cpu::portable::kKernels;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 2048 + (traits(type).block_elems == 1 ? 13 : 0);
  std::vector<float> wf(static_cast<size_t>(n));
  for (float& v : wf) v = normal(rng) * 0.1f;
  std::vector<uint8_t> w(row_bytes(type, n)), a(row_bytes(act, n)), b(row_bytes(act, n));
  quantize_row(type, wf.data(), w.data(), n);
  const std::vector<float> x = activations(n, rng);
  portable.quantize_activation(act, x.data(), b.data(), n);
  for (cpu::Isa isa : runnable_isas()) {
    const cpu::IsaKernels& simd = cpu::isa_kernels(isa);
    simd.quantize_activation(act, x.data(), a.data(), n);
    EXPECT_EQ(a, b) << dtype_name(type) << ", " << cpu::isa_name(isa);
    EXPECT_EQ(simd.vec_dot_fn(type)(w.data(), a.data(), n), portable.vec_dot_fn(type)(w.data(), a.data(), n))
        << dtype_name(type) << ", " << cpu::isa_name(isa);
  }
}

// Q4_0 or Q8_0 weights against Q8_0 in the order of llama.cpp's repacked kernels, from the
// blocks: per block the exact integer sum, times the product of the two scales, one fused
// multiply-add.
template <class W>
float repacked_order(const uint8_t* w, const uint8_t* x, int64_t n) {
  float acc = 0;
  for (int64_t i = 0; i < n / quant::kQK; ++i) {
    const auto& wb = reinterpret_cast<const W*>(w)[i];
    const auto& xb = reinterpret_cast<const quant::BlockQ8_0*>(x)[i];
    int sum = 0;
    for (int j = 0; j < quant::kQK / 2; ++j) {
      const int k = j + quant::kQK / 2;
      if constexpr (std::is_same_v<W, quant::BlockQ8_0>) {
        sum += wb.qs[j] * xb.qs[j] + wb.qs[k] * xb.qs[k];
      } else {
        sum += ((wb.qs[j] & 15) - 8) * xb.qs[j] + ((wb.qs[j] >> 4) - 8) * xb.qs[k];
      }
    }
    acc = std::fma(static_cast<float>(sum), fp16_to_f32(wb.d) * fp16_to_f32(xb.d), acc);
  }
  return acc;
}

// Q4_K weights against Q8_K in the order of llama.cpp's q4_K_8x8 kernels: per block the exact
// integer sums of the scaled levels and of the minimums times the activation's sub-block sums,
// each times the product of its two scales in one fused multiply-add; the minimums' sum taken
// off at the end. The 6-bit scales decoded as GGML's get_scale_min_k4 does.
template <>
float repacked_order<quant::BlockQ4_K>(const uint8_t* w, const uint8_t* x, int64_t n) {
  float acc = 0, macc = 0;
  for (int64_t i = 0; i < n / quant::kQK_K; ++i) {
    const auto& wb = reinterpret_cast<const quant::BlockQ4_K*>(w)[i];
    const auto& xb = reinterpret_cast<const cpu::BlockQ8_K*>(x)[i];
    const uint8_t* q = wb.scales;
    int sum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {
      const int sc = j < 4 ? q[j] & 63 : (q[j + 4] & 0xf) | (q[j - 4] >> 6) << 4;
      const int mn = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | (q[j] >> 6) << 4;
      for (int l = 0; l < 32; ++l) sum += sc * (wb.qs[32 * (j / 2) + l] >> (4 * (j % 2)) & 15) * xb.qs[32 * j + l];
      msum += mn * (xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
    }
    acc = std::fma(static_cast<float>(sum), fp16_to_f32(wb.d) * xb.d, acc);
    macc = std::fma(static_cast<float>(msum), fp16_to_f32(wb.dmin) * xb.d, macc);
  }
  return acc - macc;
}

// Products of many weight rows with many activation rows run in tiles (decode: several weight
// rows at once); each result must be the lone dot product's to the bit, at every tile edge
// (18 or 19 weight rows and 7 activation rows are no multiples of a tile) and past the first
// activation block (70 rows: weights packed once, reused), in every instruction set this CPU runs.
// Q4_0, Q8_0 and Q4_K products take the order of llama.cpp's repacked kernels instead
// (the lane tiles of vec_dot_simd.inc and vec_dot_lanes.inc, the decode tiles of vec_dot_pairs.inc),
// to the bit. Q5_0's and Q5_1's decode tiles take their high bits by bit shuffle where CPUID has
// AVX512_BITALG, otherwise by byte shuffle and test: both are run where the CPU has it.
TEST_P(VecDot, RowTilesGiveTheLoneDotProductsToTheBit) {
  const DType type = GetParam();
  const bool native_bit_shuffles = cpu::bit_shuffles();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t rows = 35, cols = 70, out_stride = 37;
  // The float types: a tail past the 32-element steps (added in double), rows the prompt
  // tiles take in several passes of 512 elements (1100: two whole, a short one and a tail), and
  // short rows (attention heads) that short_rows takes: no tail (64; the sums added across
  // lanes eight at a time), a tail (40) and the longest (128). The block
  // types: rows of 512 (the 4/5-bit types' decode takes such short rows 16 at a time) and of
  // 2048 (8 K-quant blocks: where a fused multiply-add that vec_dot does not fuse shows); for
  // the 32-element types also 15 blocks, an odd number (Q4_0's, Q5_0's and Q5_1's decode take
  // two blocks' scales at a time, the last block alone).
  std::vector<int64_t> lengths =
      traits(type).block_elems == 1 ? std::vector<int64_t>{517, 1100, 64, 40, 128} : std::vector<int64_t>{512, 2048};
  if (traits(type).block_elems == 32) lengths.push_back(480);
  for (const int64_t n : lengths) {
    const size_t w_stride = row_bytes(type, n), x_stride = cpu::dot_rows_x_bytes(type, n);
    std::vector<float> wf(static_cast<size_t>(n * rows));
    for (float& v : wf) v = normal(rng) * 0.1f;
    std::vector<uint8_t> w(w_stride * rows), x(x_stride * cpu::dot_rows_x_rows(type, cols));
    for (int64_t r = 0; r < rows; ++r) quantize_row(type, wf.data() + r * n, w.data() + r * w_stride, n);
    for (const auto& [isa_id, bits] : kernel_variants()) {
      cpu::set_bit_shuffles(bits);
      const cpu::IsaKernels* isa = &cpu::isa_kernels(isa_id);
      std::vector<float> xf;
      for (int64_t c = 0; c < cols; ++c) std::ranges::copy(activations(n, rng), std::back_inserter(xf));
      cpu::convert_for_dot_rows(type, xf.data(), n, x.data(), x_stride, cols, n, 0, cols);
      const auto expected = [&](const uint8_t* wr, const uint8_t* xr, int64_t n_cols) {
        if (type == DType::Q4_0) return repacked_order<quant::BlockQ4_0>(wr, xr, n);
        if (type == DType::Q8_0) return repacked_order<quant::BlockQ8_0>(wr, xr, n);
        if (type == DType::Q4_K) return repacked_order<quant::BlockQ4_K>(wr, xr, n);
        return isa->vec_dot_fn(type)(wr, xr, n);
      };
      // Prefill tiles, decode tiles; 35, 34 and 28 weight rows: edges of 3, 2 and 4 rows (after
      // tiles of 16 or 8).
      for (int64_t n_cols : {int64_t{7}, cols, int64_t{1}})
        for (int64_t n_rows : {rows, rows - 1, rows - 7}) {
          std::vector<float> out(static_cast<size_t>(n_cols * out_stride), NAN);
          isa->dot_rows_fn(type)(w.data(), w_stride, n_rows, x.data(), x_stride, n_cols, n, out.data(), out_stride);
          for (int64_t c = 0; c < n_cols; ++c)
            for (int64_t r = 0; r < n_rows; ++r)
              EXPECT_EQ(out[c * out_stride + r], expected(w.data() + r * w_stride, x.data() + c * x_stride, n_cols))
                  << dtype_name(type) << " weight row " << r << " of " << n_rows << ", activation row " << c << " of "
                  << n_cols << ", " << cpu::isa_name(isa_id) << (bits ? " with bit shuffles" : "") << ", length " << n;
          for (int64_t c = 0; c < n_cols; ++c)  // nothing written between a row's results
            for (int64_t r = n_rows; r < out_stride; ++r) EXPECT_TRUE(std::isnan(out[c * out_stride + r]));
        }
    }
  }
  cpu::set_bit_shuffles(native_bit_shuffles);
}

// Decode takes a call's rows in groups of up to 512 KiB, each group's tiles interleaved, rows
// far apart (vec_dot_kernels.inc's dot_rows_block_decode), or for Q4_0 and Q8_0 on AMD's CPUs
// consecutive rows: in a call of 1000 rows of 2048 elements (several groups, a short last one,
// rows past the last whole tile), each row's result must be its own, in its place, in every
// instruction set and both orders.
TEST_P(VecDot, DecodeOfALongCallPutsEachRowsResultInItsPlace) {
  const DType type = GetParam();
  constexpr int64_t n = 2048, rows = 1000;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const size_t w_stride = row_bytes(type, n);
  std::vector<float> wf(static_cast<size_t>(n));
  std::vector<uint8_t> w(w_stride * rows), x(cpu::dot_rows_x_bytes(type, n) * cpu::dot_rows_x_rows(type, 1));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : wf) v = normal(rng) * 0.1f;
    quantize_row(type, wf.data(), w.data() + r * w_stride, n);
  }
  const std::vector<float> xf = activations(n, rng);
  cpu::convert_for_dot_rows(type, xf.data(), n, x.data(), cpu::dot_rows_x_bytes(type, n), 1, n, 0, 1);
  const bool native = cpu::decode_rows_far_apart();
  for (const bool far : {true, false}) {
    cpu::set_decode_rows_far_apart(far);
    for (cpu::Isa isa_id : runnable_isas()) {
      const cpu::DotRowsFn dot = cpu::isa_kernels(isa_id).dot_rows_fn(type);
      std::vector<float> out(rows + 1, NAN), lone(1);
      dot(w.data(), w_stride, rows, x.data(), 0, 1, n, out.data(), rows);
      for (int64_t r = 0; r < rows; ++r) {
        dot(w.data() + r * w_stride, w_stride, 1, x.data(), 0, 1, n, lone.data(), 1);
        EXPECT_EQ(out[r], lone[0]) << dtype_name(type) << " weight row " << r << ", " << cpu::isa_name(isa_id)
                                   << (far ? ", rows far apart" : ", consecutive rows");
      }
      EXPECT_TRUE(std::isnan(out[rows])) << "written past the last row, " << cpu::isa_name(isa_id);
    }
  }
  cpu::set_decode_rows_far_apart(native);
}

INSTANTIATE_TEST_SUITE_P(WeightTypes, VecDot, testing::ValuesIn(kWeightTypes),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// AMX's tiles (Q4_0, Q8_0 and Q4_K products of 16 or more activation rows) run only where CPUID
// has AMX-INT8 and the OS grants the tile state. Prompt-shaped products give the AVX-512
// kernels' bits: rows of 896, or of 768 for Q4_K's blocks of 256, and of 96 (an odd number of
// blocks, which Q4_0's and Q8_0's layout holds two per line); 100 activation rows (blocks of 64
// and 36, each ending in fewer than 16) and 17 (one group and one row).
TEST(VecDot, AmxTilesGiveTheAvx512Bits) {
  if (cpu::detected_isa() != cpu::Isa::Amx)
    GTEST_SKIP() << "no AMX here (CPUID has no AMX-INT8, or the OS keeps the tile state off): the AMX kernels "
                    "are compiled, not run";
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t rows = 40;
  for (const DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K})
    for (const int64_t n : type == DType::Q4_K ? std::vector<int64_t>{768} : std::vector<int64_t>{896, 96})
      for (const int64_t cols : {100, 17}) {
        const size_t w_stride = row_bytes(type, n), x_stride = (cpu::dot_rows_x_bytes(type, n) + 63) / 64 * 64;
        std::vector<float> f(static_cast<size_t>(n));
        std::vector<uint8_t> w(w_stride * rows), x(x_stride * cpu::dot_rows_x_rows(type, cols));
        for (int64_t r = 0; r < rows; ++r) {
          for (float& v : f) v = normal(rng) * 0.1f;
          quantize_row(type, f.data(), w.data() + r * w_stride, n);
        }
        std::vector<float> xf;
        for (int64_t c = 0; c < cols; ++c) std::ranges::copy(activations(n, rng), std::back_inserter(xf));
        cpu::convert_for_dot_rows(type, xf.data(), n, x.data(), x_stride, cols, n, 0, cols);
        std::vector<float> amx(static_cast<size_t>(rows * cols)), avx512(amx.size());
        cpu::isa_kernels(cpu::Isa::Amx).dot_rows_fn(type)(w.data(), w_stride, rows, x.data(), x_stride, cols, n,
                                                          amx.data(), rows);
        cpu::isa_kernels(cpu::Isa::Avx512).dot_rows_fn(type)(w.data(), w_stride, rows, x.data(), x_stride, cols, n,
                                                             avx512.data(), rows);
        for (size_t i = 0; i < amx.size(); ++i)
          ASSERT_EQ(amx[i], avx512[i]) << dtype_name(type) << " weight row " << i % rows << ", activation row "
                                       << i / rows << ", length " << n << ", " << cols << " activation rows";
      }
}

// Attention's prompt scores from keys in chunks of 16 give dot_rows's bits, in every instruction
// set: F32, F16 and BF16 keys, heads of 32, 64 and 128, 37 keys (a partial last chunk), 7 queries
// (AVX-512's three at a time and a remainder).
TEST(VecDot, ChunkScoresAreDotRowsBits) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t keys = 37, cols = 7, out_stride = 48;
  for (const DType type : {DType::F32, DType::F16, DType::BF16})
    for (const int64_t d : {32, 64, 128}) {
      const size_t k_stride = row_bytes(type, d), x_stride = cpu::dot_rows_x_bytes(type, d);
      std::vector<float> f(static_cast<size_t>(d));
      std::vector<uint8_t> k(k_stride * keys), x(x_stride * cols);
      for (int64_t j = 0; j < keys; ++j) {
        for (float& v : f) v = normal(rng);
        quantize_row(type, f.data(), k.data() + j * k_stride, d);
      }
      std::vector<float> xf;
      for (int64_t c = 0; c < cols; ++c) std::ranges::copy(activations(d, rng), std::back_inserter(xf));
      cpu::convert_for_dot_rows(type, xf.data(), d, x.data(), x_stride, cols, d, 0, cols);
      std::vector<float> kt(static_cast<size_t>((keys + 15) / 16 * 16 * d), NAN);
      cpu::transpose_keys(type, k.data(), k_stride, keys, d, kt.data());
      const auto* q = reinterpret_cast<const float*>(x.data() + cpu::widened_offset(type, d));
      for (cpu::Isa isa : runnable_isas()) {
        std::vector<float> want(static_cast<size_t>(keys * cols)), got(static_cast<size_t>(out_stride * cols), NAN);
        cpu::isa_kernels(isa).dot_rows_fn(type)(k.data(), k_stride, keys, x.data(), x_stride, cols, d, want.data(), keys);
        cpu::isa_kernels(isa).chunk_scores(kt.data(), keys, d, q, x_stride / sizeof(float), cols, got.data(), out_stride);
        for (int64_t c = 0; c < cols; ++c)
          for (int64_t j = 0; j < keys; ++j)
            ASSERT_EQ(std::bit_cast<uint32_t>(got[c * out_stride + j]), std::bit_cast<uint32_t>(want[c * keys + j]))
                << dtype_name(type) << ", head of " << d << ", key " << j << ", query " << c << ", "
                << cpu::isa_name(isa);
      }
    }
}

// Prompts of 16 query rows or more take attention's scores from the keys transposed: a prompt's
// rows give the bits each row gives alone after the keys before it, as decode computes them.
// F32, F16 and BF16 caches, heads of 64 and 128, qwen2.5's 14 query heads over 2 KV heads, 5
// keys before the prompt (25 in all: a partial last chunk).
TEST(Attention, PromptRowsGiveTheRowByRowBits) {
  cpu::ThreadPool pool(2);
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int heads = 14, kv_heads = 2;
  const int64_t rows = 20, n_past = 5, n_ctx = 32;
  for (const DType cache : {DType::F32, DType::F16, DType::BF16})
    for (const int d : {64, 128}) {
      const int64_t width = int64_t{heads} * d, kv_width = int64_t{kv_heads} * d;
      const size_t kv_row = row_bytes(cache, kv_width);
      std::vector<uint8_t> k(kv_row * n_ctx), v(kv_row * n_ctx);
      std::vector<float> f(static_cast<size_t>(kv_width));
      for (int64_t j = 0; j < n_past + rows; ++j)
        for (std::vector<uint8_t>* c : {&k, &v}) {
          for (float& x : f) x = normal(rng);
          quantize_row(cache, f.data(), c->data() + j * kv_row, kv_width);
        }
      std::vector<float> q(static_cast<size_t>(rows * width)), all(q.size()), one(static_cast<size_t>(width));
      for (float& x : q) x = normal(rng);
      const TensorView kt{TensorDesc{cache, {n_ctx, kv_width}}, k.data()}, vt{TensorDesc{cache, {n_ctx, kv_width}}, v.data()};
      const float scale = 1.0f / std::sqrt(static_cast<float>(d));
      cpu::attention(pool, AttentionParams{heads, kv_heads, d, n_past, scale}, {TensorDesc{DType::F32, {rows, width}}, q.data()},
                     kt, vt, {TensorDesc{DType::F32, {rows, width}}, all.data()});
      for (int64_t r = 0; r < rows; ++r) {
        cpu::attention(pool, AttentionParams{heads, kv_heads, d, n_past + r, scale},
                       {TensorDesc{DType::F32, {1, width}}, q.data() + r * width}, kt, vt,
                       {TensorDesc{DType::F32, {1, width}}, one.data()});
        for (int64_t i = 0; i < width; ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(all[static_cast<size_t>(r * width + i)]), std::bit_cast<uint32_t>(one[i]))
              << dtype_name(cache) << ", head of " << d << ", row " << r << ", element " << i;
      }
    }
}

// Threads share a product's conversion in parts of kTileRows rows (mat_mul): the parts give the
// bytes of one call, the AMX tiles' padded last group included.
TEST(VecDot, ConversionInPartsIsTheWholeConversion) {
  std::mt19937 rng(9);
  const int64_t n = 768, rows = 37;
  for (const DType type : kWeightTypes) {
    const size_t stride = cpu::dot_rows_x_bytes(type, n);
    std::vector<float> xf;
    for (int64_t r = 0; r < rows; ++r) std::ranges::copy(activations(n, rng), std::back_inserter(xf));
    const size_t bytes = stride * static_cast<size_t>(cpu::dot_rows_x_rows(type, rows));
    std::vector<uint8_t> whole(bytes, 0xa5), parts(bytes, 0xa5);
    cpu::convert_for_dot_rows(type, xf.data(), n, whole.data(), stride, rows, n, 0, rows);
    for (int64_t r = 0; r < rows; r += cpu::kTileRows)
      cpu::convert_for_dot_rows(type, xf.data(), n, parts.data(), stride, rows, n, r, std::min(rows, r + cpu::kTileRows));
    EXPECT_EQ(parts, whole) << dtype_name(type);
  }
}

TEST(VecDot, ActivationTypesAreGgmls) {
  EXPECT_EQ(cpu::activation_type(DType::F32), DType::F32);
  EXPECT_EQ(cpu::activation_type(DType::F16), DType::F16);
  EXPECT_EQ(cpu::activation_type(DType::BF16), DType::BF16);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0}) EXPECT_EQ(cpu::activation_type(t), DType::Q8_0);
  for (DType t : {DType::Q4_1, DType::Q5_1}) EXPECT_EQ(cpu::activation_type(t), DType::Q8_1);
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) EXPECT_EQ(cpu::activation_type(t), DType::Q8_K);
  EXPECT_THROW(cpu::activation_type(DType::I32), Error);
  EXPECT_THROW(cpu::activation_type(DType::Q8_K), Error);
  EXPECT_THROW(cpu::vec_dot_fn(DType::Q8_1), Error);
}

TEST(QuantizeActivation, FloatTypesRoundToNearestEven) {
  const std::vector<float> x = {1.0f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, -3.14159f, 1e-6f, 65519.0f};
  std::vector<uint16_t> h(x.size()), b(x.size());
  cpu::quantize_activation(DType::F16, x.data(), h.data(), static_cast<int64_t>(x.size()));
  cpu::quantize_activation(DType::BF16, x.data(), b.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h[i], f32_to_fp16(x[i])) << x[i];
    EXPECT_EQ(b[i], f32_to_bf16(x[i])) << x[i];
  }
  EXPECT_EQ(fp16_to_f32(h[1]), 1.0f);                  // a tie rounds to the even mantissa
  EXPECT_EQ(fp16_to_f32(h[2]), 1.0f + 4 * 0x1p-11f);
}

// Every instruction set converts to F16 as f32_to_fp16 does, in its vector loop as in its tail:
// ties, subnormals, overflow, signed zero, infinity, and NaN as the canonical quiet NaN.
TEST(QuantizeActivation, F16ConversionIsTheSameInEveryInstructionSet) {
  std::vector<float> x = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 65519.0f, 65520.0f, 1e-6f, 0x1p-25f, 0x1p-24f * 1.5f,
                          -0.0f, INFINITY, -INFINITY, 3e38f, -2.5f, 0.1f, 1e-8f, -1e-5f, 7.0f};
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 100.0f);
  for (int i = 0; i < 37; ++i) x.push_back(normal(rng));
  x.push_back(std::bit_cast<float>(0x7fa00001u));  // a NaN with a payload, in a later chunk
  for (int i = 0; i < 5; ++i) x.push_back(normal(rng));
  std::vector<uint16_t> h(x.size());
  for (cpu::Isa isa : runnable_isas()) {
    cpu::isa_kernels(isa).quantize_activation(DType::F16, x.data(), h.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(h[i], f32_to_fp16(x[i])) << x[i] << ", " << cpu::isa_name(isa);
  }
}

// Q8_0 / Q8_1 levels are x * 127/amax rounded to nearest even, as GGML's AVX2 code rounds them
// (GGML's reference code would round 2.5 to 3).
TEST(QuantizeActivation, Q8_0AndQ8_1MatchGgmlsX86Rounding) {
  std::vector<float> x(64);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  x[0] = 127.0f;  // block 0: amax 127, so the levels are x rounded
  x[1] = 2.5f, x[2] = 3.5f, x[3] = -2.5f, x[4] = -0.5f;
  std::fill_n(x.begin() + 32, 32, 0.0f);  // block 1: all zero

  BlockQ8_1 b1[2];
  quant::BlockQ8_0 b0[2];
  cpu::quantize_activation(DType::Q8_0, x.data(), b0, 64);
  cpu::quantize_activation(DType::Q8_1, x.data(), b1, 64);
  EXPECT_EQ(b0[0].qs[1], 2);
  EXPECT_EQ(b0[0].qs[2], 4);
  EXPECT_EQ(b0[0].qs[3], -2);
  EXPECT_EQ(b0[0].qs[4], 0);
  EXPECT_EQ(fp16_to_f32(b0[1].d), 0.0f);
  for (int8_t q : b0[1].qs) EXPECT_EQ(q, 0);
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(b0[0].qs[j], b1[0].qs[j]);
    EXPECT_EQ(b0[0].qs[j], static_cast<int8_t>(std::nearbyint(x[j])));
    sum += b1[0].qs[j];
  }
  EXPECT_EQ(b0[0].d, b1[0].d);
  EXPECT_EQ(fp16_to_f32(b1[0].d), 1.0f);
  EXPECT_EQ(b1[0].s, f32_to_fp16(static_cast<float>(sum)));
  EXPECT_EQ(fp16_to_f32(b1[1].s), 0.0f);
}

TEST(QuantizeActivation, Q8_KBlockSumsAndReconstruction) {
  std::mt19937 rng(3);
  for (bool positive_max : {false, true}) {
    std::vector<float> x = activations(512, rng);
    x[7] = positive_max ? 40.0f : -40.0f;
    BlockQ8_K b[2];
    cpu::quantize_activation(DType::Q8_K, x.data(), b, 512);
    // The value of largest magnitude maps to -127: d has the opposite sign of that value.
    EXPECT_EQ(b[0].qs[7], -127);
    EXPECT_EQ(b[0].d < 0, positive_max);
    for (int j = 0; j < 256; ++j)
      EXPECT_LE(std::abs(b[0].d * b[0].qs[j] - x[j]), std::abs(b[0].d) * 0.5f * (1 + 1e-5f)) << j;
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[0].qs[16 * g + l];
      EXPECT_EQ(b[0].bsums[g], sum) << g;
    }
    // The second super-block is all zero.
    EXPECT_EQ(b[1].d, 0.0f);
    for (int j = 0; j < 256; ++j) EXPECT_EQ(b[1].qs[j], 0);
    for (int g = 0; g < 16; ++g) EXPECT_EQ(b[1].bsums[g], 0);
  }
}

// Where +a and -a both have the largest magnitude, the first sets the scale's sign, in every
// instruction set (the SIMD code finds the maximum first, then its first position).
TEST(QuantizeActivation, Q8_KScaleFollowsTheFirstOfEqualMagnitudes) {
  for (const bool negative_first : {false, true}) {
    std::vector<float> x(256);
    for (int j = 0; j < 256; ++j) x[j] = 0.01f * static_cast<float>(j % 17 - 8);
    x[37] = negative_first ? -5.0f : 5.0f;
    x[200] = -x[37];
    for (const cpu::Isa isa : runnable_isas()) {
      BlockQ8_K b;
      cpu::isa_kernels(isa).quantize_activation(DType::Q8_K, x.data(), &b, 256);
      EXPECT_EQ(b.qs[37], -127) << cpu::isa_name(isa);
      EXPECT_EQ(b.qs[200], 127) << cpu::isa_name(isa);
      EXPECT_EQ(b.d < 0, !negative_first) << cpu::isa_name(isa);
    }
  }
}

// The per-block data after Q8_0 activation rows (vec_dot.h's BlockExtras), in every instruction
// set, to the portable kernels' bytes: each part alone and both together, levels over the whole
// int8 range (-128 too), offsets of Q4_0's and Q8_0's summaries and Q5_0's fours.
TEST(BlockExtras, EveryInstructionSetWritesThePortableBytes) {
  constexpr int64_t nb = 37;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> level(-128, 127);
  std::vector<quant::BlockQ8_0> blocks(nb);
  for (auto& b : blocks) {
    for (int8_t& q : b.qs) q = static_cast<int8_t>(level(rng));
    b.d = f32_to_fp16(std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng));
  }
  std::ranges::fill(blocks[5].qs, int8_t{-128});
  std::ranges::fill(blocks[6].qs, int8_t{127});
  struct Out {
    std::vector<cpu::ActSummary> summaries = std::vector<cpu::ActSummary>(nb);
    std::vector<cpu::ActFours> fours = std::vector<cpu::ActFours>(nb);
  };
  const auto run = [&](const cpu::IsaKernels& k, int32_t summary_offset, int32_t fours_offset, int parts) {
    Out o;
    cpu::BlockExtras e{.summary_offset = summary_offset, .fours_offset = fours_offset};
    if (parts & 1) e.summaries = o.summaries.data();
    if (parts & 2) e.fours = o.fours.data();
    k.block_extras(blocks.data(), nb, e);
    return o;
  };
  const auto bytes = [](const auto& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(v.data());
    return std::vector<uint8_t>(p, p + v.size() * sizeof(v[0]));
  };
  for (const auto& [summary_offset, fours_offset] : {std::pair{8, 8}, std::pair{128, 0}, std::pair{0, 16}})
    for (int parts = 1; parts < 4; ++parts) {
      const Out want = run(cpu::portable::kKernels, summary_offset, fours_offset, parts);
      EXPECT_EQ(want.summaries[6].neg_offset_sum, (parts & 1) ? -summary_offset * 127 * 32 : 0);
      for (const cpu::Isa isa : runnable_isas()) {
        const Out got = run(cpu::isa_kernels(isa), summary_offset, fours_offset, parts);
        EXPECT_EQ(bytes(got.summaries), bytes(want.summaries)) << cpu::isa_name(isa) << ", parts " << parts;
        EXPECT_EQ(bytes(got.fours), bytes(want.fours)) << cpu::isa_name(isa) << ", parts " << parts;
      }
    }
}

// SwiGLU's elements against double precision, in every instruction set, over float's range:
// within a few ulp, and the reference's infinities, zeros and NaNs at the ends; AVX-512's 16
// lanes to the bits of AVX2's 8.
TEST(SiluMul, WithinAFewUlpOfDoubleInEveryInstructionSet) {
  std::vector<float> g = {0.0f, -0.0f, 1e-3f, -1e-3f, 0.5f, -0.5f, 10.0f, -10.0f, 20.0f, -20.0f, 50.0f, -50.0f,
                          86.0f, -86.0f, 87.3f, -87.3f, 87.4f, -87.4f, 88.5f, -88.5f, 88.8f, -88.8f, 100.0f, -100.0f};
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  while (g.size() < 1003) g.push_back(normal(rng));  // an odd count: the padded last lanes run too
  std::vector<float> u(g.size());
  for (float& v : u) v = normal(rng);
  std::vector<float> avx2;  // the 8-lane SIMD form's results, which the 16-lane form must equal
  for (const cpu::Isa isa : runnable_isas()) {
    std::vector<float> y(g.size());
    cpu::isa_kernels(isa).silu_mul(g.data(), u.data(), y.data(), static_cast<int64_t>(g.size()));
    if (isa == cpu::Isa::Avx2) avx2 = y;
    if (isa >= cpu::Isa::Avx512 && !avx2.empty()) {
      EXPECT_EQ(0, std::memcmp(y.data(), avx2.data(), y.size() * sizeof(float))) << cpu::isa_name(isa);
    }
    for (size_t i = 0; i < g.size(); ++i) {
      // Where e^-g passes float's range the reference divides by infinity: a zero.
      const double e = std::exp(-static_cast<double>(g[i]));
      const double want = e > std::numeric_limits<float>::max() ? 0.0 : g[i] / (1.0 + e) * u[i];
      EXPECT_NEAR(y[i], want, 4e-7 * std::abs(want) + 1e-42) << cpu::isa_name(isa) << ", g " << g[i] << ", u " << u[i];
    }
    const float ends[] = {INFINITY, -INFINITY, NAN};
    float out[3];
    const float ones[] = {1.0f, 1.0f, 1.0f};
    cpu::isa_kernels(isa).silu_mul(ends, ones, out, 3);
    EXPECT_EQ(out[0], INFINITY) << cpu::isa_name(isa);
    EXPECT_TRUE(std::isnan(out[1])) << cpu::isa_name(isa);  // -inf / (1 + inf), as the reference
    EXPECT_TRUE(std::isnan(out[2])) << cpu::isa_name(isa);
  }
}

// An element's SwiGLU does not depend on where it stands: a decode step's row of 172 (stories260K's
// FFN; no multiple of the lanes) must give the bits it gets inside a prompt's elements, so calls
// on rows of odd lengths at odd offsets give one whole call's bits, in every instruction set.
TEST(SiluMul, AnElementsBitsDoNotDependOnItsPlace) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> g(20000), u(g.size());
  for (float& v : g) v = normal(rng);
  for (float& v : u) v = normal(rng);
  for (const cpu::Isa isa : runnable_isas()) {
    std::vector<float> whole(g.size()), parts(g.size());
    cpu::isa_kernels(isa).silu_mul(g.data(), u.data(), whole.data(), static_cast<int64_t>(g.size()));
    const size_t lengths[] = {172, 5, 13, 3};
    for (size_t at = 0, k = 0; at < g.size(); at += lengths[k++ % 4]) {
      const size_t n = std::min(lengths[k % 4], g.size() - at);
      cpu::isa_kernels(isa).silu_mul(g.data() + at, u.data() + at, parts.data() + at, static_cast<int64_t>(n));
    }
    EXPECT_EQ(0, std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float))) << cpu::isa_name(isa);
  }
}

// Flash attention's F16 value sums: GGML's formula key by key, in every instruction set, for
// head widths that take the 4-register, 1-register and scalar columns (and mixes), heads that
// fill a register block and spill into the next, rescalings on new maxima (including the first
// key's 0), and values that round to F16's subnormals, overflow to infinity and carry a NaN.
TEST(ValueSumsF16, GiveGgmlsFormulaKeyByKeyInEveryInstructionSet) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const auto r16 = [](float x) { return fp16_to_f32(f32_to_fp16(x)); };
  for (const int64_t d : {8, 24, 64, 72, 128, 200})
    for (const int heads : {1, 3, 7, 17}) {
      const int64_t keys = 37;
      const size_t stride = static_cast<size_t>(d + 8);  // value rows apart in a wider cache row
      std::vector<uint16_t> v(static_cast<size_t>(keys) * stride);
      for (size_t i = 0; i < v.size(); ++i) v[i] = f32_to_fp16(normal(rng) * (i % 7 == 0 ? 3e3f : 1.0f));
      v[5] = f32_to_fp16(NAN);
      std::vector<float> ms(static_cast<size_t>(heads * keys)), vs(ms.size());
      for (int h = 0; h < heads; ++h)
        for (int64_t j = 0; j < keys; ++j) {
          const size_t at = static_cast<size_t>(h * keys + j);
          const bool new_max = j == 0 || unit(rng) < 0.2f;
          ms[at] = j == 0 ? 0.0f : new_max ? unit(rng) : 1.0f;
          vs[at] = new_max ? 1.0f : unit(rng) * (j % 11 == 0 ? 1e-6f : 1.0f);
        }
      std::vector<float> want(static_cast<size_t>(heads * d), 0.0f);
      for (int h = 0; h < heads; ++h)
        for (int64_t j = 0; j < keys; ++j) {
          const size_t at = static_cast<size_t>(h * keys + j);
          for (int64_t i = 0; i < d; ++i) {
            float& a = want[static_cast<size_t>(h * d + i)];
            if (ms[at] != 1) a = r16(a * ms[at]);
            a = r16(std::fma(fp16_to_f32(v[static_cast<size_t>(j) * stride + static_cast<size_t>(i)]), vs[at], a));
          }
        }
      for (const cpu::Isa isa : runnable_isas()) {
        std::vector<float> got(want.size(), -1.0f);
        cpu::isa_kernels(isa).value_sums_f16(v.data(), stride, keys, ms.data(), vs.data(), heads, d, got.data());
        for (size_t i = 0; i < want.size(); ++i) {
          if (std::isnan(want[i])) EXPECT_TRUE(std::isnan(got[i])) << cpu::isa_name(isa) << " d " << d << " element " << i;
          else ASSERT_EQ(got[i], want[i]) << cpu::isa_name(isa) << " d " << d << " heads " << heads << " element " << i;
        }
      }
    }
}

// The online softmax's steps, one key at a time as vec_dot.h defines them, against every
// instruction set's to the bit: scores rising, falling, tied (+0 and -0 too), infinite and NaN,
// over lengths on both sides of a 16-key vector.
TEST(SoftmaxSteps, MatchTheStepsOneKeyAtATimeInEveryInstructionSet) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const float scale = 0.125f;
  for (const int64_t n : {1, 5, 15, 16, 17, 31, 32, 33, 64, 100, 257})
    for (int pattern = 0; pattern < 6; ++pattern) {
      std::vector<float> w(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) {
        float& x = w[static_cast<size_t>(j)];
        switch (pattern) {
          case 0: x = normal(rng); break;
          case 1: x = static_cast<float>(j) * 0.5f; break;               // a new maximum every key
          case 2: x = -static_cast<float>(j); break;                    // the first is the maximum
          case 3: x = static_cast<float>(j % 3 - 1) * 0.0f; break;     // ties of +0 and -0
          case 4: x = std::round(normal(rng)); break;                   // ties at many values
          default: x = j % 7 == 3 ? NAN : j % 11 == 5 ? INFINITY : j % 13 == 1 ? -INFINITY : normal(rng);
        }
      }
      std::vector<float> want_w = w, want_m(w.size());
      float max = -INFINITY;
      for (size_t j = 0; j < w.size(); ++j) {
        const float x = w[j] * scale;
        if (x > max) {
          want_m[j] = max - x;
          want_w[j] = 0;
          max = x;
        } else {
          want_m[j] = 0;
          want_w[j] = x - max;
        }
      }
      for (const cpu::Isa isa : runnable_isas()) {
        std::vector<float> got_w = w, got_m(w.size(), 42.0f);
        cpu::isa_kernels(isa).softmax_steps(got_w.data(), got_m.data(), n, scale);
        for (size_t j = 0; j < w.size(); ++j) {
          const auto same = [](float a, float b) {
            return std::isnan(a) ? std::isnan(b) : std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
          };
          EXPECT_TRUE(same(want_w[j], got_w[j]) && same(want_m[j], got_m[j]))
              << cpu::isa_name(isa) << " n " << n << " pattern " << pattern << " key " << j << ": w " << got_w[j]
              << " (want " << want_w[j] << "), m " << got_m[j] << " (want " << want_m[j] << ")";
        }
      }
    }
}

// The softmax's exponentials: glibc's expf to the bit in every instruction set, over every
// `stride`th float (both signs: underflow, subnormal results, overflow), in chunks, and the
// ends: infinities, NaN, zeros and the thresholds of the range.
void expect_glibc_expf(uint64_t stride) {
  std::vector<float> x;
  for (const float e : {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, -0x1.9fe368p6f, 0x1.62e42ep6f, -88.0f, 88.0f})
    for (const float f : {e, std::nextafter(e, 0.0f), std::nextafter(e, INFINITY), std::nextafter(e, -INFINITY)})
      x.push_back(f);
  std::map<cpu::Isa, int64_t> wrong;
  for (uint64_t u = 0; u < (uint64_t{1} << 32);) {
    for (; u < (uint64_t{1} << 32) && x.size() < (size_t{1} << 22); u += stride)
      x.push_back(std::bit_cast<float>(static_cast<uint32_t>(u)));
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = std::exp(x[i]);
    for (const cpu::Isa isa : runnable_isas()) {
      std::vector<float> got = x;
      cpu::isa_kernels(isa).exp_f32(got.data(), static_cast<int64_t>(got.size()));
      for (size_t i = 0; i < x.size(); ++i)
        if (std::isnan(want[i]) ? !std::isnan(got[i]) : std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i]))
          if (++wrong[isa] <= 5) ADD_FAILURE() << cpu::isa_name(isa) << ": e^" << x[i] << " = " << got[i] << ", expf " << want[i];
    }
    x.clear();
  }
  for (const cpu::Isa isa : runnable_isas()) EXPECT_EQ(wrong[isa], 0) << cpu::isa_name(isa);
}

TEST(ExpF32, GivesGlibcsExpfToTheBitInEveryInstructionSet) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "the SIMD sets reproduce glibc's expf; this C library's may round otherwise";
#endif
  expect_glibc_expf(1009);  // 4 million floats
}

// Every float (about three minutes here: run with --gtest_also_run_disabled_tests after
// changing exp_f32).
TEST(ExpF32, DISABLED_GivesGlibcsExpfToTheBitForEveryFloat) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "the SIMD sets reproduce glibc's expf; this C library's may round otherwise";
#endif
  expect_glibc_expf(1);
}

TEST(QuantizeActivation, RejectsWeightOnlyTypesAndPartialBlocks) {
  std::vector<float> x(512);
  std::vector<uint8_t> out(1024);
  EXPECT_THROW(cpu::quantize_activation(DType::Q4_K, x.data(), out.data(), 256), Error);
  EXPECT_THROW(cpu::quantize_activation(DType::Q8_K, x.data(), out.data(), 100), Error);
}

}  // namespace
}  // namespace isomer
