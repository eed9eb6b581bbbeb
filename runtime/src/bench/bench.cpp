// llama-bench-style measurements of a model, and the memory bandwidth they are judged against.
#include <isomer/backend.h>
#include <isomer/bench.h>
#include <isomer/error.h>
#include <isomer/quantize.h>
#include <isomer/sampler.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace isomer::bench {
namespace {

// Each bandwidth probe around a repetition's generation (Params::bandwidth): a 1 GiB buffer
// streams in about 20 ms at 50-60 GB/s, so about ten passes, the best counting.
constexpr double kProbeSeconds = 0.2;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string params_label(int64_t n) {
  if (n >= 1000000000) return fmt::format("{:.1f}B", n / 1e9);
  if (n >= 1000000) return fmt::format("{:.0f}M", n / 1e6);
  return fmt::format("{:.0f}K", n / 1e3);
}

}  // namespace

Stats stats(std::vector<double> samples) {
  Stats s;
  s.samples = std::move(samples);
  const double n = static_cast<double>(s.samples.size());
  if (s.samples.empty()) return s;
  for (double v : s.samples) s.mean += v;
  s.mean /= n;
  if (s.samples.size() > 1) {
    double sq = 0;
    for (double v : s.samples) sq += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(sq / (n - 1));
  }
  return s;
}

ModelFacts facts(const Model& model) {
  const gguf::File& f = model.file();
  ModelFacts m;
  m.path = f.path();
  m.arch = model.config().arch;
  m.file_bytes = f.file_size();
  const auto ftype = f.get_int("general.file_type");
  m.type = ftype ? quantize::ftype_description(static_cast<uint32_t>(*ftype)) : "unknown";
  bool has_output = false;
  for (const auto& t : f.tensors()) {
    m.weight_bytes += t.nbytes;
    m.params += t.elements();
    has_output = has_output || t.name == "output.weight";
  }
  m.bytes_per_token = m.weight_bytes;
  if (const auto* e = f.find_tensor("token_embd.weight"); e && has_output && e->dims.size() == 2)
    m.bytes_per_token -= e->nbytes - e->nbytes / static_cast<uint64_t>(e->dims[1]);
  const std::string size = f.get_string("general.size_label").value_or(params_label(m.params));
  m.description = fmt::format("{} {} {}", m.arch, size, m.type);
  return m;
}

std::vector<int32_t> tokens(int64_t n_vocab, int n) {
  const int64_t range = std::max<int64_t>(1, std::min<int64_t>(n_vocab / 2, 10000));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i)
    out.push_back(static_cast<int32_t>((int64_t{i} * 7919 + 13) % range));
  return out;
}

Result run(const Params& p, const std::function<void(std::string_view)>& progress) {
  if (p.n_prompt < 1) fail("bench: the prompt must have at least 1 token (-p), not {}", p.n_prompt);
  if (p.n_gen < 0) fail("bench: cannot generate {} tokens (-n)", p.n_gen);
  if (p.reps < 1) fail("bench: at least 1 repetition (-r), not {}", p.reps);
  Result r;
  r.params = p;
  r.peak_rss_of_run = reset_peak_rss();
  const auto model = Model::load(p.model, p.load);
  r.model = facts(*model);
  r.device = model->device().properties().id;
  r.threads = p.load.threads > 0
                  ? p.load.threads
                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ContextOptions co = p.context;
  if (co.n_ctx == 0) co.n_ctx = p.n_prompt + p.n_gen;
  Context ctx(*model, co);
  if (p.n_prompt + p.n_gen > ctx.n_ctx())
    fail("bench: {} prompt + {} generated tokens exceed the context of {}", p.n_prompt,
         p.n_gen, ctx.n_ctx());
  if (!p.prompt.empty() && p.prompt.size() != static_cast<size_t>(p.n_prompt))
    fail("bench: the prompt has {} tokens, not the {} of -p", p.prompt.size(), p.n_prompt);
  const std::vector<int32_t> prompt =
      p.prompt.empty() ? tokens(model->config().n_vocab, p.n_prompt) : p.prompt;

  std::vector<double> pp, tg;
  for (int rep = 0; rep <= p.reps; ++rep) {  // repetition 0 is the warm-up
    ctx.reset();
    const auto phase = [&](bool prompt_phase, bool begin) {
      if (rep > 0 && p.on_phase) p.on_phase(prompt_phase, begin);
    };
    phase(true, true);
    auto t0 = Clock::now();
    auto logits = ctx.eval(prompt);
    const double prompt_s = seconds_since(t0);
    phase(true, false);
    r.fallback_nodes = std::max(r.fallback_nodes, ctx.fallbacks().size());
    const bool probe = p.bandwidth && rep > 0 && p.n_gen > 0 && r.device.starts_with("cpu");
    double bandwidth = probe ? p.bandwidth->read(r.threads, kProbeSeconds).gb_per_s : 0;
    phase(false, true);
    t0 = Clock::now();
    for (int i = 0; i < p.n_gen; ++i) {
      const int32_t next = argmax(logits);
      logits = ctx.eval({&next, 1});
    }
    const double gen_s = seconds_since(t0);
    phase(false, false);
    if (probe) {
      bandwidth = std::max(bandwidth, p.bandwidth->read(r.threads, kProbeSeconds).gb_per_s);
      r.generation_bandwidth.push_back(bandwidth);
    }
    r.fallback_nodes = std::max(r.fallback_nodes, ctx.fallbacks().size());
    if (rep == 0) {
      if (progress) progress(fmt::format("{} on {}, {} threads: warm-up done", p.model, r.device,
                                         r.threads));
      continue;
    }
    pp.push_back(p.n_prompt / prompt_s);
    if (p.n_gen > 0) tg.push_back(p.n_gen / gen_s);
    if (progress)
      progress(fmt::format("  repetition {}/{}: pp {:.2f} tok/s, tg {:.2f} tok/s", rep, p.reps,
                           pp.back(), tg.empty() ? 0.0 : tg.back()));
  }
  r.prompt = stats(std::move(pp));
  r.generation = stats(std::move(tg));
  r.peak_rss = peak_rss();
  // The meter's buffer was resident when the peak was reset, so all of it is in the peak.
  if (p.bandwidth && r.peak_rss_of_run) r.peak_rss -= std::min(r.peak_rss, p.bandwidth->bytes());
  return r;
}

Stats roofline(const Result& r, double gbs) {
  std::vector<double> pct;
  const auto& tg = r.generation.samples;
  for (size_t i = 0; i < tg.size(); ++i) {
    const double bw = i < r.generation_bandwidth.size() ? r.generation_bandwidth[i] : gbs;
    if (bw > 0) pct.push_back(100.0 * static_cast<double>(r.model.bytes_per_token) * tg[i] / (bw * 1e9));
  }
  return stats(std::move(pct));
}

uint64_t peak_rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmHWM:")) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  return 0;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

namespace {

// Sums 64-bit words, eight independent accumulators so loads are the only limit. Inlined into
// an AVX2 copy the compiler vectorises, chosen at run time where the CPU has AVX2 (a plain check,
// not target_clones: its ifunc resolver runs before ThreadSanitizer's runtime is up and crashes).
[[gnu::always_inline]] inline uint64_t sum_words_loop(const uint64_t* p, size_t n) {
  uint64_t a[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) a[k] += p[i + k];
  uint64_t total = 0;
  for (uint64_t v : a) total += v;
  for (; i < n; ++i) total += p[i];
  return total;
}

#if defined(__x86_64__)
[[gnu::target("avx2")]] uint64_t sum_words_avx2(const uint64_t* p, size_t n) { return sum_words_loop(p, n); }
#endif

uint64_t sum_words(const uint64_t* p, size_t n) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return sum_words_avx2(p, n);
#endif
  return sum_words_loop(p, n);
}

}  // namespace

BandwidthMeter::BandwidthMeter(uint64_t buffer_bytes)
    : buf_(nullptr, &std::free), words_(static_cast<size_t>(buffer_bytes / 8 / 64 * 64)) {
  if (words_ == 0) fail("bandwidth: a buffer of {} bytes is too small", buffer_bytes);
  buf_.reset(static_cast<uint64_t*>(std::aligned_alloc(64, words_ * 8)));
  if (!buf_) fail("bandwidth: cannot allocate {} MiB", words_ * 8 >> 20);
  for (size_t i = 0; i < words_; ++i) buf_[i] = i;  // touch every page before timing
}

Bandwidth BandwidthMeter::read(int threads, double seconds) const {
  if (threads < 1) fail("bandwidth: at least 1 thread, not {}", threads);
  std::atomic<uint64_t> sink{0};
  std::atomic<bool> stop{false};
  double best = 0;
  Clock::time_point pass_start;
  std::barrier sync(threads + 1);
  auto worker = [&](int t) {
    const size_t begin = words_ * t / threads / 8 * 8, end = words_ * (t + 1) / threads / 8 * 8;
    for (;;) {
      sync.arrive_and_wait();  // start of a pass
      if (stop.load()) return;
      sink += sum_words(buf_.get() + begin, end - begin);
      sync.arrive_and_wait();  // end of the pass
    }
  };
  std::vector<std::jthread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  const auto t_end = Clock::now() + std::chrono::duration<double>(seconds);
  int passes = 0;
  while (passes < 3 || Clock::now() < t_end) {
    pass_start = Clock::now();
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    const double s = seconds_since(pass_start);
    best = std::max(best, static_cast<double>(words_ * 8) / s / 1e9);
    ++passes;
  }
  stop = true;
  sync.arrive_and_wait();
  pool.clear();
  return {threads, best, bytes()};
}

Bandwidth read_bandwidth(int threads, uint64_t buffer_bytes, double seconds) {
  if (threads < 1) fail("bandwidth: at least 1 thread, not {}", threads);
  return BandwidthMeter(buffer_bytes).read(threads, seconds);
}

namespace {

// The peak loops: kChains independent accumulators, so that each instruction's latency is
// hidden and only its throughput counts; the sum is returned so no loop is optimised away.
constexpr int kChains = 16;
constexpr int64_t kPeakIterations = 1 << 20;  // a few ms per loop: the threads overlap

#if defined(__x86_64__)
[[gnu::target("avx512f")]] double fma_avx512() {
  __m512 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (int64_t i = 0; i < kPeakIterations; ++i)
    for (__m512& v : acc) v = _mm512_fmadd_ps(v, a, b);
  for (int k = 1; k < kChains; ++k) acc[0] = _mm512_add_ps(acc[0], acc[k]);
  // Stored and summed, not _mm512_reduce_add_ps: GCC 12 warns inside that intrinsic's header.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc[0]);
  return std::accumulate(std::begin(lanes), std::end(lanes), 0.0);
}
[[gnu::target("avx512f,avx512vnni")]] double dot_i8_avx512() {
  __m512i acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm512_set1_epi32(k);
  const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-5);
  for (int64_t i = 0; i < kPeakIterations; ++i)
    for (__m512i& v : acc) v = _mm512_dpbusd_epi32(v, u, s);
  for (int k = 1; k < kChains; ++k) acc[0] = _mm512_add_epi32(acc[0], acc[k]);
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, acc[0]);
  return std::accumulate(std::begin(lanes), std::end(lanes), 0.0);
}
[[gnu::target("avx2,fma")]] double fma_avx2() {
  __m256 acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm256_set1_ps(static_cast<float>(k));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-3f);
  for (int64_t i = 0; i < kPeakIterations; ++i)
    for (__m256& v : acc) v = _mm256_fmadd_ps(v, a, b);
  float out[8];
  for (int k = 1; k < kChains; ++k) acc[0] = _mm256_add_ps(acc[0], acc[k]);
  _mm256_storeu_ps(out, acc[0]);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
[[gnu::target("avx2")]] double dot_i8_avx2() {
  __m256i acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = _mm256_set1_epi32(k);
  const __m256i u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-5), ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < kPeakIterations; ++i)
    for (__m256i& v : acc) v = _mm256_add_epi32(v, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones));
  int32_t out[8];
  for (int k = 1; k < kChains; ++k) acc[0] = _mm256_add_epi32(acc[0], acc[k]);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), acc[0]);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#endif

// Operations per second of `threads` threads each running `loop` once, best of the passes.
double peak_rate(int threads, double seconds, double ops_per_loop, double (*loop)()) {
  std::atomic<double> sink{0};
  double best = 0;
  const auto t_end = Clock::now() + std::chrono::duration<double>(seconds);
  for (int pass = 0; pass < 3 || Clock::now() < t_end; ++pass) {
    const auto t0 = Clock::now();
    {
      std::vector<std::jthread> pool;
      for (int t = 0; t < threads; ++t) pool.emplace_back([&] { sink = sink + loop(); });
    }
    best = std::max(best, ops_per_loop * threads / seconds_since(t0));
  }
  return best;
}

}  // namespace

ComputePeak compute_peak(int threads, double seconds) {
  if (threads < 1) fail("compute peak: at least 1 thread, not {}", threads);
  ComputePeak p{threads, "none"};
#if defined(__x86_64__)
  const double n = static_cast<double>(kPeakIterations) * kChains;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni")) {
    p.isa = "avx512+vnni";
    p.fp32_gflops = peak_rate(threads, seconds / 2, n * 16 * 2, fma_avx512) / 1e9;
    p.int8_gops = peak_rate(threads, seconds / 2, n * 64 * 2, dot_i8_avx512) / 1e9;
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    p.isa = "avx2";
    p.fp32_gflops = peak_rate(threads, seconds / 2, n * 8 * 2, fma_avx2) / 1e9;
    p.int8_gops = peak_rate(threads, seconds / 2, n * 32 * 2, dot_i8_avx2) / 1e9;
  }
#endif
  return p;
}

Bandwidth device_bandwidth(Device& dev, uint64_t buffer_bytes, double seconds) {
  const std::string& id = dev.properties().id;
  const int64_t n = static_cast<int64_t>(buffer_bytes / 4);
  if (n <= 0) fail("{}: bandwidth: a buffer of {} bytes is too small", id, buffer_bytes);
  const TensorDesc desc{DType::F32, {n}};
  const Op copy{CopyParams{}};
  if (const Support s = dev.supports(copy, std::span(&desc, 1), desc); !s.ok)
    fail("{}: bandwidth: cannot copy {}: {}", id, desc.to_string(), s.reason);
  const auto src = dev.allocate(desc.bytes()), dst = dev.allocate(desc.bytes());
  const std::vector<uint8_t> fill(desc.bytes(), 1);
  src->write(0, fill.data(), fill.size());
  // Several copies per pass, so that launching and waiting are a small part of its time.
  const std::vector<Step> steps(8, Step{&copy, {{desc, src.get(), 0}}, {desc, dst.get(), 0}, "bandwidth copy"});
  dev.run(steps);  // warm-up: first-use costs (pipelines, page mapping) stay out of the timing
  dev.synchronize();
  double best = 0;
  const auto t_end = Clock::now() + std::chrono::duration<double>(seconds);
  for (int pass = 0; pass < 3 || Clock::now() < t_end; ++pass) {
    const auto t0 = Clock::now();
    dev.run(steps);
    dev.synchronize();
    best = std::max(best, 2.0 * static_cast<double>(desc.bytes()) * static_cast<double>(steps.size()) / seconds_since(t0) / 1e9);
  }
  return {0, best, desc.bytes()};
}

}  // namespace isomer::bench
