// Speed measurements, llama-bench style: prompt processing (p tokens in one batch from an
// empty cache) and generation (n tokens one at a time after them), mean and standard
// deviation over repetitions after a warm-up; the peak resident memory of the process; and the
// streaming read bandwidth of main memory, for the generation roofline (bytes of weights read
// per token / time per token / bandwidth). Used by `isomer bench`, and meant for any command
// that measures one model on several backends.
#pragma once

#include <isomer/model.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace isomer {
class Device;
}

namespace isomer::bench {

struct Stats {
  double mean = 0, sd = 0;  // sd: sample standard deviation (0 for one sample)
  std::vector<double> samples;
};
Stats stats(std::vector<double> samples);

// What a model file is, for the report.
struct ModelFacts {
  std::string path;
  std::string arch;
  std::string type;          // llama.cpp's file type description, e.g. "Q4_K - Medium"
  std::string description;   // llama-bench's model column, e.g. "qwen2 0.5B Q4_K - Medium"
  uint64_t file_bytes = 0;
  uint64_t weight_bytes = 0;  // all tensor data
  int64_t params = 0;
  // Weight bytes one generated token reads: every matrix once, one row of the token
  // embeddings (all of them when they are also the output matrix). The KV cache is left out.
  uint64_t bytes_per_token = 0;
};
ModelFacts facts(const Model& model);

class BandwidthMeter;

struct Params {
  std::string model;
  LoadOptions load;        // backend, device, threads
  ContextOptions context;  // n_ctx 0: n_prompt + n_gen
  int n_prompt = 128;
  int n_gen = 64;
  int reps = 5;
  // The prompt's token ids, n_prompt of them; empty: tokens(n_vocab, n_prompt).
  std::vector<int32_t> prompt = {};
  // Called as each timed repetition's prompt (prompt true) or generation phase begins and ends
  // (compare reads energy counters there).
  std::function<void(bool prompt, bool begin)> on_phase = {};
  // When set and the model runs on the CPU: the read bandwidth at the run's thread count just
  // before and just after each timed repetition's generation (about 0.2 s each), the higher of
  // the two in Result::generation_bandwidth. A shared host's bandwidth moves with its
  // neighbours' load (41-67 GB/s within an hour on one 2-vCPU VM), so each repetition is judged
  // against the bandwidth of its own minutes. The meter's resident buffer is left out of peak_rss.
  const BandwidthMeter* bandwidth = nullptr;
};

struct Result {
  Params params;
  ModelFacts model;
  std::string device;  // the device that ran it, e.g. "cpu:0"
  int threads = 0;     // the CPU threads used (params.load.threads, or all cores for 0)
  Stats prompt;        // tokens/s
  Stats generation;    // tokens/s
  uint64_t peak_rss = 0;        // bytes; 0 where the system does not say
  bool peak_rss_of_run = false; // the peak was reset before this run (else: of the process)
  size_t fallback_nodes = 0;    // nodes that ran on the CPU instead of the device
  std::vector<double> generation_bandwidth;  // GB/s around each timed repetition (Params::bandwidth)
};

// The token ids every benchmark evaluates: deterministic, ordinary tokens (below half the
// vocabulary and below 10000, so never the specials at its end).
std::vector<int32_t> tokens(int64_t n_vocab, int n);

// Loads the model, runs one untimed warm-up repetition, then `reps` timed ones. isomer::Error
// for bad parameters or a model that fails to load. `progress` gets a line now and then.
Result run(const Params& params, const std::function<void(std::string_view)>& progress = {});

// Generation's share of the bandwidth roof in percent, one sample per timed repetition: weight
// bytes per token x its tokens/s / its generation_bandwidth where measured, else / gbs (none
// where gbs <= 0).
Stats roofline(const Result& r, double gbs);

// Peak resident set size of this process in bytes (VmHWM), 0 if unknown.
uint64_t peak_rss();
// Resets the peak to the current resident size (Linux /proc/self/clear_refs); false if the
// system does not allow it.
bool reset_peak_rss();

struct Bandwidth {
  int threads = 1;
  double gb_per_s = 0;    // 1e9 bytes per second, best pass
  uint64_t buffer_bytes = 0;
};
// Streaming read bandwidth: `threads` threads sum disjoint parts of a buffer far larger than
// any cache, repeatedly for about `seconds` (at least 3 passes); the best pass counts. The meter
// keeps its buffer, touched once, for measurements again and again (its pages stay resident
// while it lives); read_bandwidth makes one for a single measurement.
class BandwidthMeter {
 public:
  explicit BandwidthMeter(uint64_t buffer_bytes = uint64_t{1} << 30);
  Bandwidth read(int threads, double seconds = 1.0) const;
  uint64_t bytes() const { return words_ * 8; }

 private:
  std::unique_ptr<uint64_t[], void (*)(void*)> buf_;
  size_t words_ = 0;
};
Bandwidth read_bandwidth(int threads, uint64_t buffer_bytes = uint64_t{1} << 30,
                         double seconds = 1.0);
// The CPU's arithmetic peak, what prompt processing is judged against: `threads` threads run
// register-only loops of independent fused multiply-adds (f32) and of int8 dot products
// (VNNI's vpdpbusd, or AVX2's maddubs + madd + add, the sequences the kernels use) in the
// widest vectors the CPU has, for about `seconds`; the best pass counts. An operation is a
// multiply or an add (a multiply-add is 2). isa is "avx512+vnni", "avx2" or "none" (no x86
// vector unit known here: both peaks 0).
struct ComputePeak {
  int threads = 1;
  std::string isa;
  double fp32_gflops = 0, int8_gops = 0;
};
ComputePeak compute_peak(int threads, double seconds = 0.5);

// Memory bandwidth of a device with its own memory (a GPU): the device copies one buffer to
// another through its copy op, for about `seconds`; bytes read plus bytes written per second
// of the best pass (a copy is how GPU vendors quote it too). isomer::Error naming the device
// when the buffers do not fit or it cannot copy them.
Bandwidth device_bandwidth(Device& device, uint64_t buffer_bytes = uint64_t{256} << 20, double seconds = 0.5);

}  // namespace isomer::bench
