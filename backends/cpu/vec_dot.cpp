// Validation and the run-time choice of instruction set for vec_dot.h's functions.
#include "vec_dot.h"

#include <isomer/error.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "vec_dot_isa.h"

namespace isomer::cpu {
namespace {

#if defined(__x86_64__)
// AMX-INT8 in CPUID, and the tile data state granted to this process: Linux enables it per
// process on request (arch_prctl ARCH_REQ_XCOMP_PERM), and refuses where the kernel or the
// hypervisor does not save it. Asked once; the answer holds for every thread.
bool amx_usable() {
  static const bool usable = [] {
    unsigned a, b, c, d;  // CPUID leaf 7: EDX bit 24 AMX-TILE, bit 25 AMX-INT8
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0 || (d >> 24 & 3) != 3) return false;
#if defined(__linux__)
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;  // no way to ask for the tile state here: the AVX-512 kernels run
#endif
  }();
  return usable;
}
#endif

Isa cap_from_environment() {
  const char* env = std::getenv("ISOMER_CPU_ISA");
  if (env == nullptr || *env == '\0') return Isa::Amx;
  const std::string_view v = env;
  if (v == "portable") return Isa::Portable;
  if (v == "avx2") return Isa::Avx2;
  if (v == "avx512") return Isa::Avx512;
  if (v == "amx") return Isa::Amx;
  fail("cpu: ISOMER_CPU_ISA={} is not an instruction set isomer has kernels for (portable, avx2, avx512, amx)", v);
}

const IsaKernels& kernels() {
  static const IsaKernels& k = isa_kernels(active_isa());
  return k;
}

}  // namespace

const IsaKernels& isa_kernels(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::Amx) return amx::kKernels;
  if (isa == Isa::Avx512) return avx512::kKernels;
  if (isa == Isa::Avx2) return avx2::kKernels;
#endif
  return portable::kKernels;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Amx: return "avx512+vnni+amx";
    case Isa::Avx512: return "avx512+vnni";
    case Isa::Avx2: return "avx2+fma+f16c";
    default: return "portable";
  }
}

Isa detected_isa() {
#if defined(__x86_64__)
  // These check the OS saves the vector registers too (XGETBV), not only CPUID.
  const bool avx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  // AVX-512 as Ice Lake, Sapphire Rapids and Zen 4 have it: byte/word and 256-bit forms, and
  // VNNI's int8 dot products.
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vnni"))
    return amx_usable() ? Isa::Amx : Isa::Avx512;
  if (avx2) return Isa::Avx2;
#endif
  return Isa::Portable;
}

Isa active_isa() {
  static const Isa isa = std::min(detected_isa(), cap_from_environment());
  return isa;
}

namespace {
// Rows far apart but on AMD's CPUs (decode_rows_far_apart).
bool far_apart = [] {
#if defined(__x86_64__)
  __builtin_cpu_init();  // this may run before libgcc's own initialisation
  return !__builtin_cpu_is("amd");
#else
  return true;
#endif
}();
}  // namespace
bool decode_rows_far_apart() { return far_apart; }
void set_decode_rows_far_apart(bool far) { far_apart = far; }

namespace {
bool cpu_has_bitalg() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bitalg");
#else
  return false;
#endif
}
bool bit_shuffles_on = cpu_has_bitalg();
}  // namespace
bool bit_shuffles() { return bit_shuffles_on; }
void set_bit_shuffles(bool on) { bit_shuffles_on = on && cpu_has_bitalg(); }

std::string isa_description() {
  const Isa active = active_isa(), detected = detected_isa();
  if (active == detected) return isa_name(active);
  return std::string(isa_name(active)) + " (capped by ISOMER_CPU_ISA; the CPU has " + isa_name(detected) + ")";
}

DType activation_type(DType weight) {
  switch (weight) {
    case DType::F32:
    case DType::F16:
    case DType::BF16: return weight;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0: return DType::Q8_0;
    case DType::Q4_1:
    case DType::Q5_1: return DType::Q8_1;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return DType::Q8_K;
    default: fail("cpu: {} is not a weight type", dtype_name(weight));
  }
}

void quantize_activation(DType act, const float* x, void* dst, int64_t n) {
  row_bytes(act, n);  // validates n against the block size
  switch (act) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q8_1:
    case DType::Q8_K: return kernels().quantize_activation(act, x, dst, n);
    default: fail("cpu: {} is not an activation type", dtype_name(act));
  }
}

namespace {
// The offset the AVX-512 tiles store a weight type's levels with (unsigned bytes for VNNI) where
// dot_rows reads its activation blocks' summaries (the prompt lane tiles), or 0.
int summary_offset(DType weight) {
  switch (weight) {
    case DType::Q4_0: return 8;
    case DType::Q8_0: return 128;
    default: return 0;
  }
}
// The offset of a weight type's levels where dot_rows reads the offset's share by fours (Q5_0's
// decode tiles of four rows per register and its lane tiles), or 0.
int fours_offset(DType weight) { return weight == DType::Q5_0 ? 16 : 0; }

// Whether dot_rows reads the activation's levels + 128 as well (Q6_K's lane tiles).
bool biased_levels(DType weight) { return weight == DType::Q6_K; }
// Whether dot_rows reads the activation's values widened to F32 as well (the prompt tiles).
bool widened(DType weight) { return weight == DType::F16 || weight == DType::BF16; }
}  // namespace

// After the F16 or BF16 row, from the next cache line (mat_mul's rows start on one).
size_t widened_offset(DType weight, int64_t n) { return widened(weight) ? (row_bytes(weight, n) + 63) / 64 * 64 : 0; }

namespace {
size_t x_bytes_before_levels(DType weight, int64_t n) {
  const auto blocks = static_cast<size_t>(n / quant::kQK);
  return row_bytes(activation_type(weight), n) + (summary_offset(weight) == 0 ? 0 : blocks * sizeof(ActSummary)) +
         (fours_offset(weight) == 0 ? 0 : blocks * sizeof(ActFours));
}
}  // namespace

// The types whose prompt products the AMX tiles take: their levels again, from the next cache
// line.
size_t levels_offset(DType weight, int64_t n) {
  const bool tiles = summary_offset(weight) != 0 || weight == DType::Q4_K;
  return tiles ? (x_bytes_before_levels(weight, n) + 63) / 64 * 64 : 0;
}

namespace {
// Q4_0's and Q8_0's levels in the tiles' layout (vec_dot.h).
bool grouped_levels(DType weight) { return summary_offset(weight) != 0; }
}  // namespace

size_t dot_rows_x_bytes(DType weight, int64_t n) {
  if (widened(weight)) return widened_offset(weight, n) + static_cast<size_t>(n) * sizeof(float);
  if (grouped_levels(weight)) return levels_offset(weight, n) + tile_levels_bytes(n / quant::kQK);
  if (levels_offset(weight, n) != 0) return levels_offset(weight, n) + static_cast<size_t>(n);
  return x_bytes_before_levels(weight, n) + (biased_levels(weight) ? static_cast<size_t>(n) : 0);
}

namespace {
void convert_row(DType weight, const float* x, void* dst, int64_t n, bool amx) {
  quantize_activation(activation_type(weight), x, dst, n);
  if (widened(weight)) {
    kernels().widen_halves(weight, static_cast<const uint16_t*>(dst),
                           reinterpret_cast<float*>(static_cast<uint8_t*>(dst) + widened_offset(weight, n)), n);
    return;
  }
  if (biased_levels(weight)) {
    const auto* blocks = static_cast<const BlockQ8_K*>(dst);
    auto* biased = static_cast<uint8_t*>(dst) + row_bytes(DType::Q8_K, n);
    // Block by block: a division and a remainder per element made Q6_K's conversion of a row
    // of 4864 take 4.9 us, where Q4_K's (the same quantisation, no biased copy) took 1.3.
    for (int64_t b = 0; b < n / quant::kQK_K; ++b)
      for (int j = 0; j < quant::kQK_K; ++j) biased[b * quant::kQK_K + j] = static_cast<uint8_t>(blocks[b].qs[j] + 128);
    return;
  }
  const DType act = activation_type(weight);
  if (act == DType::Q8_K && amx && levels_offset(weight, n) != 0) {
    const auto* blocks = static_cast<const BlockQ8_K*>(dst);
    auto* copy = static_cast<uint8_t*>(dst) + levels_offset(weight, n);
    for (int64_t i = 0; i < n / quant::kQK_K; ++i) std::memcpy(copy + i * quant::kQK_K, blocks[i].qs, quant::kQK_K);
  }
  if (act != DType::Q8_0) return;
  BlockExtras e{.summary_offset = summary_offset(weight), .fours_offset = fours_offset(weight)};
  const int64_t nb = n / quant::kQK;
  uint8_t* extra = static_cast<uint8_t*>(dst) + row_bytes(DType::Q8_0, n);
  if (e.summary_offset != 0) {
    e.summaries = reinterpret_cast<ActSummary*>(extra);
    extra += nb * sizeof(ActSummary);
  }
  if (e.fours_offset != 0) e.fours = reinterpret_cast<ActFours*>(extra);
  if (e.summaries != nullptr || e.fours != nullptr)
    kernels().block_extras(static_cast<const quant::BlockQ8_0*>(dst), nb, e);
}
}  // namespace

// Products of up to kTileRows activation rows do not take the tiles (dot_rows_amx).
int64_t dot_rows_x_rows(DType weight, int64_t rows) {
  return grouped_levels(weight) && rows > kTileRows ? (rows + kTileRows - 1) / kTileRows * kTileRows : rows;
}

void convert_for_dot_rows(DType weight, const float* x, int64_t x_stride, void* dst, size_t dst_stride, int64_t rows,
                          int64_t n, int64_t begin, int64_t end) {
  // The levels' copies are read by the AMX tiles only: where they cannot run they stay unwritten.
  static const bool amx = detected_isa() == Isa::Amx;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t r = begin; r < end; ++r) convert_row(weight, x + r * x_stride, out + r * dst_stride, n, amx);
#if defined(__x86_64__)
  if (amx && grouped_levels(weight) && rows >= kTileRows)
    for (int64_t g = begin; g < end; g += kTileRows)
      amx::tile_levels(out + g * dst_stride, dst_stride, std::min(kTileRows, end - g), n / quant::kQK,
                       levels_offset(weight, n));
#endif
}

VecDotFn vec_dot_fn(DType weight) {
  activation_type(weight);  // validates the type
  return kernels().vec_dot_fn(weight);
}

DotRowsFn dot_rows_fn(DType weight) {
  activation_type(weight);  // validates the type
  return kernels().dot_rows_fn(weight);
}

float vec_dot(DType weight, const void* w_row, const void* x_act, int64_t n) {
  row_bytes(weight, n);
  return vec_dot_fn(weight)(w_row, x_act, n);
}

bool attention_rows_fetched_ahead(int64_t head_dim) {
  return active_isa() != Isa::Portable && head_dim <= kShortRowElems;
}

void value_sums_f16(const uint16_t* v, size_t v_stride, int64_t keys, const float* ms, const float* vs, int heads,
                    int64_t d, float* out) {
  kernels().value_sums_f16(v, v_stride, keys, ms, vs, heads, d, out);
}
void softmax_steps(float* w, float* m, int64_t n, float scale) { kernels().softmax_steps(w, m, n, scale); }

void transpose_keys(DType k_type, const void* k, size_t k_stride, int64_t keys, int64_t d, float* kt) {
  const int64_t chunks = (keys + kKeyChunk - 1) / kKeyChunk;
  std::fill(kt + keys / kKeyChunk * kKeyChunk * d, kt + chunks * kKeyChunk * d, 0.0f);
  std::vector<float> row(static_cast<size_t>(d));
  for (int64_t j = 0; j < keys; ++j) {
    dequantize_row(k_type, static_cast<const uint8_t*>(k) + j * k_stride, row.data(), d);
    float* chunk = kt + j / kKeyChunk * kKeyChunk * d + j % kKeyChunk;
    for (int64_t e = 0; e < d; ++e) chunk[e * kKeyChunk] = row[static_cast<size_t>(e)];
  }
}
void chunk_scores(const float* kt, int64_t keys, int64_t d, const float* q, size_t q_stride, int64_t cols, float* out,
                  int64_t out_stride) {
  kernels().chunk_scores(kt, keys, d, q, q_stride, cols, out, out_stride);
}
void exp_f32(float* x, int64_t n) { kernels().exp_f32(x, n); }
void silu_mul(const float* g, const float* u, float* y, int64_t n) { kernels().silu_mul(g, u, y, n); }

}  // namespace isomer::cpu
