// Throughput of the CPU matrix-product kernels (dot_rows, as mat_mul calls them: up to 64 KiB of
// weight rows a call, 4 MiB in decode), in weight bytes per second on one thread, for every
// weight type:
//   decode/hot   one activation row, a 512 KiB matrix that stays in L2: the kernel's compute rate;
//   decode/cold  one activation row, 1 GiB of weights streamed from DRAM: what decode gets;
//   decode/cold/k896, decode/cold/k1024  the same with shorter rows (qwen2.5-0.5b's and
//                qwen3-0.6b's hidden sizes), where the types' block sizes allow;
//   prompt/hot   64 activation rows (a prefill tile), the weights in cache.
// A type whose decode/hot rate is near its decode/cold rate is compute-bound in decode; one far
// above it is bound by memory. isomer bench --bandwidth gives the streaming read rate to
// compare with. Also decode attention (attention/<model>/<keys>): one query row against an F16
// KV cache, on one thread, the cache in L2 (a layer's is small; decode is bound by its
// arithmetic, not by reading it), in keys per second.
// Run: build/bin/isomer_kernel_bench [--benchmark_filter=Q4_0]
#include <benchmark/benchmark.h>
#include <isomer/ops/dtype.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/vec_dot.h"

namespace {

using namespace isomer;

constexpr int64_t kCols = 2048;  // the row length where none is named (TinyLlama's hidden size)

void dot_rows(benchmark::State& state, DType type, int64_t act_rows, size_t weight_bytes, int64_t k) {
  const size_t w_stride = row_bytes(type, k), x_stride = cpu::dot_rows_x_bytes(type, k);
  const int64_t call_rows = cpu::dot_rows_call_rows(w_stride, act_rows);
  const int64_t rows = std::max<int64_t>(call_rows, static_cast<int64_t>(weight_bytes / w_stride) / call_rows * call_rows);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // 64 quantised rows repeated: real scales and levels, without quantising a gigabyte.
  std::vector<float> f(static_cast<size_t>(k));
  std::vector<uint8_t> w(w_stride * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    if (r < 64) {
      for (float& v : f) v = normal(rng) * 0.05f;
      quantize_row(type, f.data(), w.data() + r * w_stride, k);
    } else {
      std::memcpy(w.data() + r * w_stride, w.data() + (r % 64) * w_stride, w_stride);
    }
  }
  std::vector<uint8_t> x(x_stride * static_cast<size_t>(cpu::dot_rows_x_rows(type, act_rows)));
  std::vector<float> xf(static_cast<size_t>(k * act_rows));
  for (float& v : xf) v = normal(rng);
  cpu::convert_for_dot_rows(type, xf.data(), k, x.data(), x_stride, act_rows, k, 0, act_rows);
  std::vector<float> out(static_cast<size_t>(rows * act_rows));
  const cpu::DotRowsFn dot = cpu::dot_rows_fn(type);
  for (auto _ : state) {
    for (int64_t r0 = 0; r0 < rows; r0 += call_rows)
      dot(w.data() + r0 * w_stride, w_stride, call_rows, x.data(), x_stride, act_rows, k, out.data() + r0, rows);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(rows * k),
                                                   benchmark::Counter::kIsRate);
}

// One decode step's attention for one layer: `heads` query heads over `kv_heads` KV heads of
// width 64 (qwen2.5-0.5b: 14 over 2; TinyLlama: 32 over 4), `keys` cache rows.
void attention(benchmark::State& state, int heads, int kv_heads, int64_t keys) {
  constexpr int kDim = 64;
  const int64_t kv_width = int64_t{kv_heads} * kDim;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(heads * kDim)), row(static_cast<size_t>(kv_width)), out(q.size());
  for (float& v : q) v = normal(rng);
  std::vector<uint16_t> k(static_cast<size_t>(keys * kv_width)), v(k.size());
  for (auto* cache : {&k, &v})
    for (int64_t j = 0; j < keys; ++j) {
      for (float& e : row) e = normal(rng);
      quantize_row(DType::F16, row.data(), cache->data() + j * kv_width, kv_width);
    }
  const auto view = [](DType type, Shape shape, void* data) {
    return TensorView{TensorDesc{type, shape}, data};
  };
  const AttentionParams p{heads, kv_heads, kDim, keys - 1, 0.125f};
  cpu::ThreadPool pool(1);
  for (auto _ : state) {
    cpu::attention(pool, p, view(DType::F32, {1, heads * kDim}, q.data()), view(DType::F16, {keys, kv_width}, k.data()),
                   view(DType::F16, {keys, kv_width}, v.data()), view(DType::F32, {1, heads * kDim}, out.data()));
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["keys/s"] = benchmark::Counter(static_cast<double>(state.iterations() * keys), benchmark::Counter::kIsRate);
}

void register_all() {
  const DType types[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                         DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  constexpr size_t kHot = size_t{512} << 10, kCold = size_t{1} << 30;
  for (DType t : types) {
    const std::string name(dtype_name(t));
    benchmark::RegisterBenchmark((name + "/decode/hot").c_str(), dot_rows, t, 1, kHot, kCols)->UseRealTime();
    benchmark::RegisterBenchmark((name + "/decode/cold").c_str(), dot_rows, t, 1, kCold, kCols)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    for (const int64_t k : {896, 1024})
      if (k % traits(t).block_elems == 0)
        benchmark::RegisterBenchmark((name + "/decode/cold/k" + std::to_string(k)).c_str(), dot_rows, t, 1, kCold, k)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((name + "/prompt/hot").c_str(), dot_rows, t, 64, kHot, kCols)->UseRealTime();
  }
  for (const int64_t keys : {160, 1024}) {
    benchmark::RegisterBenchmark(("attention/qwen2.5-0.5b/" + std::to_string(keys)).c_str(), attention, 14, 2, keys)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("attention/tinyllama-1.1b/" + std::to_string(keys)).c_str(), attention, 32, 4, keys)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
