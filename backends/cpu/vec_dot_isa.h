// The CPU kernels are compiled once per instruction set (vec_dot_<isa>.cpp) and one set is
// chosen at run time from CPUID, so one binary runs on any x86-64 and uses what the CPU has.
#pragma once

#include <isomer/ops/dtype.h>

#include <cstdint>
#include <string>

#include "vec_dot.h"

namespace isomer::cpu {

// In order: each set's CPUs run the ones before it. Amx is Avx512 with Intel's tile registers
// (AMX-INT8, Sapphire Rapids on) for the prompt products of Q4_0, Q8_0 and Q4_K weights.
enum class Isa { Portable, Avx2, Avx512, Amx };

// One instruction set's kernels (vec_dot.h's functions of the same names).
struct IsaKernels {
  void (*quantize_activation)(DType act, const float* x, void* dst, int64_t n);
  void (*widen_halves)(DType type, const uint16_t* h, float* f, int64_t n);  // F16 or BF16 to F32
  VecDotFn (*vec_dot_fn)(DType weight);
  DotRowsFn (*dot_rows_fn)(DType weight);
  void (*value_sums_f16)(const uint16_t* v, size_t v_stride, int64_t keys, const float* ms, const float* vs,
                         int heads, int64_t d, float* out);
  void (*softmax_steps)(float* w, float* m, int64_t n, float scale);
  void (*exp_f32)(float* x, int64_t n);
  void (*silu_mul)(const float* g, const float* u, float* y, int64_t n);
  void (*block_extras)(const quant::BlockQ8_0* blocks, int64_t nb, const BlockExtras& extras);
  void (*chunk_scores)(const float* kt, int64_t keys, int64_t d, const float* q, size_t q_stride, int64_t cols,
                       float* out, int64_t out_stride);
};

namespace portable {
extern const IsaKernels kKernels;
}
#if defined(__x86_64__)
namespace avx2 {
extern const IsaKernels kKernels;
}
namespace avx512 {
extern const IsaKernels kKernels;
}
namespace amx {
extern const IsaKernels kKernels;
// The levels of a group of activation rows (`count` converted Q8_0 rows, `stride` bytes apart, nb
// blocks each; zeroed ones after them up to kTileRows) laid out from byte `levels` of each of
// the kTileRows rows for the tiles (vec_dot.h).
void tile_levels(uint8_t* rows, size_t stride, int64_t count, int64_t nb, size_t levels);
}
#endif

// Whether the Q4_0 and Q8_0 decode tiles take a call's rows far apart (dot_rows_block_decode in
// vec_dot_kernels.inc; Q4_K's always do). The same bits either way; which is faster depends on
// the CPU's hardware prefetcher, so it is chosen per vendor from what was measured on each: on
// an Intel Xeon far apart was 1.10-1.30x as fast for Q4_0 and 1.03-1.11x for Q8_0, on an AMD
// Zen 5 0.94-1.03x and 0.84-0.93x. Tests set it both ways.
bool decode_rows_far_apart();
void set_decode_rows_far_apart(bool far);

// Whether the AVX-512 decode tiles of Q5_0 and Q5_1 take their high bits with AVX512_BITALG's
// bit shuffle (Ice Lake, Zen 4 and later), one instruction where a byte shuffle and a test
// took two. On an AMD Zen 5, where both and the tiles' inserts, permutes and conversions share
// two vector pipes, the masks were a quarter of the Q5_0 tile's time; with the bit shuffle one
// thread reads rows of 896 from L2 1.02-1.09x as fast (Q5_1 1.03-1.07x) and from DRAM
// 1.02-1.09x. CPUs with AVX-512 VNNI but no BITALG (Cascade Lake) take the shuffle and test. The
// same bits either way; on where CPUID has BITALG, and tests set it both ways
// (set_bit_shuffles(true) is a no-op without it).
bool bit_shuffles();
void set_bit_shuffles(bool on);

// One instruction set's kernels; the caller checks the CPU runs them (isa <= detected_isa()).
const IsaKernels& isa_kernels(Isa isa);

const char* isa_name(Isa isa);
// The best instruction set this CPU supports.
Isa detected_isa();
// The one the kernels use: detected_isa(), capped by $ISOMER_CPU_ISA (portable | avx2 | avx512 |
// amx) so tests and comparisons can run the lower paths; an unknown value is an error naming it.
Isa active_isa();
// What `isomer devices` shows: the active set, and why when it is below the detected one.
std::string isa_description();

}  // namespace isomer::cpu
