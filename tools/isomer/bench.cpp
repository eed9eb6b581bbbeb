// `isomer bench`: llama-bench-like prompt and generation speeds of models, with peak memory,
// and the memory bandwidth that bounds generation. The measuring is isomer::bench's
// (runtime/include/isomer/bench.h); this file parses options and prints.
#include <isomer/bench.h>
#include <isomer/error.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>
#include <set>
#include <thread>

#include "commands.h"

namespace isomer::cli {
namespace {

struct BenchOptions {
  std::vector<std::string> models;
  std::vector<std::string> backends{"cpu"};
  std::vector<int> threads{0};
  std::vector<std::string> kernels{"portable"};
  std::vector<int> n_prompt{128}, n_gen{64};  // each pair is one run, as llama-bench's lists
  int reps = 5;
  int64_t n_ctx = 0;
  std::string output = "md";
  bool bandwidth = false;
  double bandwidth_gbs = 0;  // given, not measured
  int bandwidth_mib = 1024;
  bool compute_peak = false;
  bool progress = false;
};

// Percent of the CPU's arithmetic peak at its thread count that prompt processing reached
// (2 operations per parameter and token; the int8 peak for block types, f32 otherwise).
std::optional<double> compute_pct(const bench::Result& r, const std::vector<bench::ComputePeak>& peaks) {
  for (const auto& p : peaks)
    if (p.threads == r.threads && r.device.starts_with("cpu") && p.fp32_gflops > 0) {
      const bool float_type = r.model.type.starts_with("F") || r.model.type.starts_with("BF");
      const double peak = (float_type ? p.fp32_gflops : p.int8_gops) * 1e9;
      return 100.0 * 2.0 * static_cast<double>(r.model.params) * r.prompt.mean / peak;
    }
  return std::nullopt;
}

// Percent of the bandwidth roof that generation reached (the mean over its repetitions, each
// against the bandwidth measured around it where it was), if a bandwidth is known.
std::optional<double> roofline_pct(const bench::Result& r, double gbs) {
  const bench::Stats s = bench::roofline(r, gbs);
  if (s.samples.empty()) return std::nullopt;
  return s.mean;
}
// The bandwidth a result's roofline is judged against: the mean of those measured around its
// repetitions, or gbs.
double judged_bandwidth(const bench::Result& r, double gbs) {
  if (r.generation_bandwidth.empty()) return gbs;
  return bench::stats(r.generation_bandwidth).mean;
}
bool any_paired(const std::vector<bench::Result>& results) {
  return std::ranges::any_of(results, [](const bench::Result& r) { return !r.generation_bandwidth.empty(); });
}

std::string mib(uint64_t bytes) { return fmt::format("{:.2f} MiB", bytes / 1048576.0); }

const char* kernels_name(const bench::Result& r) {
  return r.params.load.kernels == KernelChoice::Vendor ? "vendor" : "portable";
}

// after_prompt: several prompt lengths, so each tg row names its prompt's (tg64@512).
void print_markdown(const std::vector<bench::Result>& results, const std::vector<bench::Bandwidth>& bw,
                    const std::vector<bench::ComputePeak>& peaks, double gbs, bool after_prompt) {
  if (!results.empty()) {
    fmt::print("| model | size | params | backend | kernels | threads | test | t/s | peak RSS |{}\n",
               gbs > 0 ? " roofline |" : "");
    fmt::print("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |{}\n", gbs > 0 ? " ---: |" : "");
    for (const auto& r : results) {
      auto row = [&](const std::string& test, const bench::Stats& s, std::string roof) {
        fmt::print("| {} | {} | {:.2f} M | {} | {} | {} | {} | {:.2f} ± {:.2f} | {} |{}\n",
                   r.model.description, mib(r.model.weight_bytes), r.model.params / 1e6,
                   r.device, kernels_name(r), r.threads, test, s.mean, s.sd, mib(r.peak_rss),
                   gbs > 0 ? " " + roof + " |" : "");
      };
      row(fmt::format("pp{}", r.params.n_prompt), r.prompt, "");
      if (r.params.n_gen > 0) {
        const bench::Stats roof = bench::roofline(r, gbs);
        std::string cell;
        if (!r.generation_bandwidth.empty()) cell = fmt::format("{:.1f} ± {:.1f} %", roof.mean, roof.sd);
        else if (!roof.samples.empty()) cell = fmt::format("{:.1f} %", roof.mean);
        row(after_prompt ? fmt::format("tg{}@{}", r.params.n_gen, r.params.n_prompt)
                         : fmt::format("tg{}", r.params.n_gen),
            r.generation, cell);
      }
    }
    fmt::print("\npp: the prompt in one batch from an empty cache; tg: tokens one at a time "
               "after it{}; mean ± sd of tokens/s over the repetitions after a warm-up.\n",
               after_prompt ? " (tgN@P: after the prompt of P tokens)" : "");
    for (const auto& r : results)
      if (r.fallback_nodes > 0)
        fmt::print("{} on {}: {} node(s) ran on the CPU instead\n", r.model.path, r.device,
                   r.fallback_nodes);
  }
  if (!bw.empty()) {
    if (!results.empty()) fmt::print("\n");
    fmt::print("| read bandwidth | threads | GB/s |\n| --- | ---: | ---: |\n");
    for (const auto& b : bw)
      fmt::print("| {} MiB buffer | {} | {:.2f} |\n", b.buffer_bytes >> 20, b.threads, b.gb_per_s);
  }
  if (any_paired(results))
    fmt::print("\nroofline: weight bytes read per generated token × tg tokens/s ÷ the read bandwidth at the "
               "run's thread count, measured just before and just after each repetition's generation (the "
               "higher of the two); mean ± sd over the repetitions. The bandwidth table: one measurement "
               "before the runs{}.\n",
               std::ranges::all_of(results, [](const bench::Result& r) {
                 return r.params.n_gen == 0 || !r.generation_bandwidth.empty();
               })
                   ? ""
                   : fmt::format(", whose best ({:.2f} GB/s) other devices' generation is judged against", gbs));
  else if (gbs > 0 && !results.empty())
    fmt::print("\nroofline: weight bytes read per generated token × tg tokens/s ÷ {:.2f} GB/s{}\n",
               gbs, bw.empty() ? " (given)" : " (the best bandwidth measured)");
  if (!peaks.empty()) {
    fmt::print("\n| compute peak | threads | f32 GFLOP/s | int8 GOP/s |\n| --- | ---: | ---: | ---: |\n");
    for (const auto& p : peaks)
      fmt::print("| {} | {} | {:.1f} | {:.1f} |\n", p.isa, p.threads, p.fp32_gflops, p.int8_gops);
    for (const auto& r : results)
      if (const auto pct = compute_pct(r, peaks))
        fmt::print("{}, {} thread(s): pp{} at {:.1f} % of the {} peak (2 operations per parameter and token)\n",
                   r.model.description, r.threads, r.params.n_prompt, *pct,
                   r.model.type.starts_with("F") || r.model.type.starts_with("BF") ? "f32" : "int8");
  }
}

nlohmann::json stats_json(const bench::Stats& s) {
  return {{"mean", s.mean}, {"sd", s.sd}, {"samples", s.samples}};
}

nlohmann::json result_json(const bench::Result& r, const std::vector<bench::ComputePeak>& peaks, double gbs) {
  nlohmann::json j = {
      {"model", r.model.path},
      {"description", r.model.description},
      {"arch", r.model.arch},
      {"type", r.model.type},
      {"file_bytes", r.model.file_bytes},
      {"size_bytes", r.model.weight_bytes},
      {"params", r.model.params},
      {"bytes_per_token", r.model.bytes_per_token},
      {"backend", r.params.load.backend},
      {"device", r.device},
      {"kernels", kernels_name(r)},
      {"threads", r.threads},
      {"n_prompt", r.params.n_prompt},
      {"n_gen", r.params.n_gen},
      {"reps", r.params.reps},
      {"pp", stats_json(r.prompt)},
      {"tg", stats_json(r.generation)},
      {"peak_rss_bytes", r.peak_rss},
      {"peak_rss_scope", r.peak_rss_of_run ? "run" : "process"},
      {"fallback_nodes", r.fallback_nodes},
  };
  const bench::Stats roof = bench::roofline(r, gbs);
  const bool known = !roof.samples.empty();
  j["roofline_pct"] = known ? nlohmann::json(roof.mean) : nlohmann::json(nullptr);
  j["roofline"] = known ? stats_json(roof) : nlohmann::json(nullptr);
  const double judged = judged_bandwidth(r, gbs);
  j["roofline_bandwidth_gb_per_s"] = judged > 0 ? nlohmann::json(judged) : nlohmann::json(nullptr);
  j["generation_bandwidth_gb_per_s"] = r.generation_bandwidth;
  const auto pct = compute_pct(r, peaks);
  j["compute_peak_pct"] = pct ? nlohmann::json(*pct) : nlohmann::json(nullptr);
  return j;
}

void print_json(const std::vector<bench::Result>& results, const std::vector<bench::Bandwidth>& bw,
                const std::vector<bench::ComputePeak>& peaks, double gbs) {
  nlohmann::json j = {{"results", nlohmann::json::array()},
                      {"bandwidth", nlohmann::json::array()},
                      {"compute_peak", nlohmann::json::array()}};
  for (const auto& r : results) j["results"].push_back(result_json(r, peaks, gbs));
  for (const auto& b : bw)
    j["bandwidth"].push_back(
        {{"threads", b.threads}, {"gb_per_s", b.gb_per_s}, {"buffer_bytes", b.buffer_bytes}});
  for (const auto& p : peaks)
    j["compute_peak"].push_back(
        {{"threads", p.threads}, {"isa", p.isa}, {"fp32_gflops", p.fp32_gflops}, {"int8_gops", p.int8_gops}});
  j["bandwidth_gb_per_s"] = gbs > 0 ? nlohmann::json(gbs) : nlohmann::json(nullptr);
  fmt::print("{}\n", j.dump(2));
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void print_csv(const std::vector<bench::Result>& results, const std::vector<bench::Bandwidth>& bw,
               const std::vector<bench::ComputePeak>& peaks, double gbs) {
  fmt::print("model,description,type,size_bytes,params,backend,device,kernels,threads,test,n_prompt,"
             "n_gen,reps,avg_ts,stddev_ts,samples_ts,peak_rss_bytes,bandwidth_gbs,roofline_pct\n");
  for (const auto& r : results) {
    const double judged = judged_bandwidth(r, gbs);
    auto row = [&](const char* test, const bench::Stats& s, std::optional<double> roof) {
      fmt::print("{},{},{},{},{},{},{},{},{},{},{},{},{},{:.4f},{:.4f},{},{},{},{}\n",
                 csv_field(r.model.path), csv_field(r.model.description),
                 csv_field(r.model.type), r.model.weight_bytes, r.model.params,
                 r.params.load.backend, r.device, kernels_name(r), r.threads, test, r.params.n_prompt,
                 r.params.n_gen, r.params.reps, s.mean, s.sd,
                 fmt::format("{:.4f}", fmt::join(s.samples, ";")), r.peak_rss,
                 judged > 0 ? fmt::format("{:.3f}", judged) : "",
                 roof ? fmt::format("{:.2f}", *roof) : "");
    };
    row("pp", r.prompt, std::nullopt);
    if (r.params.n_gen > 0) row("tg", r.generation, roofline_pct(r, gbs));
  }
  for (const auto& b : bw)
    fmt::print("bandwidth,,,{},,cpu,cpu,,{},bandwidth,,,,{:.4f},,,,{:.3f},\n", b.buffer_bytes,
               b.threads, b.gb_per_s, b.gb_per_s);
  for (const auto& p : peaks)  // G operations per second in avg_ts, as bandwidth rows hold GB/s
    fmt::print("compute_peak,{0},f32,,,cpu,cpu,,{1},peak_f32,,,,{2:.4f},,,,,\n"
               "compute_peak,{0},int8,,,cpu,cpu,,{1},peak_int8,,,,{3:.4f},,,,,\n",
               p.isa, p.threads, p.fp32_gflops, p.int8_gops);
}

}  // namespace

void add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench", "Measure prompt and generation speed (llama-bench style) and memory bandwidth");
  auto o = std::make_shared<BenchOptions>();
  cmd->add_option("-m,--model", o->models, "GGUF model file (repeat for several)");
  cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens, evaluated in one batch; a comma-separated list")
      ->delimiter(',')->check(CLI::Range(1, std::numeric_limits<int>::max()))->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gen,
                  "Tokens generated one at a time after the prompt; a comma-separated list (each prompt "
                  "length with each)")
      ->delimiter(',')->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("-r,--repetitions", o->reps, "Timed repetitions (after one warm-up)")
      ->check(CLI::Range(1, std::numeric_limits<int>::max()))->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "CPU threads, a comma-separated list (0: all cores)")
      ->delimiter(',')->check(CLI::NonNegativeNumber);
  cmd->add_option("--backend,--device", o->backends,
                  "Backends, optionally with a device index, comma-separated: cpu, vulkan:1 ...")
      ->delimiter(',');
  cmd->add_option("--kernels", o->kernels,
                  "portable, vendor (the vendor library for matrix products: CPU oneDNN, CUDA "
                  "cuBLAS, HIP hipBLAS), or both comma-separated; each is measured")
      ->delimiter(',')->check(CLI::IsMember({"portable", "vendor"}));
  cmd->add_option("--ctx", o->n_ctx, "Context size (0: prompt + generated tokens)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-o,--output", o->output, "Output format")
      ->check(CLI::IsMember({"md", "csv", "json"}))->capture_default_str();
  auto* bw = cmd->add_flag("--bandwidth", o->bandwidth,
                           "Measure streaming read bandwidth at each thread count, and report "
                           "generation's share of that roof: on the CPU each repetition's against "
                           "the bandwidth measured just before and after its generation (the "
                           "buffer stays resident meanwhile and is left out of peak RSS)");
  cmd->add_option("--bandwidth-gbs", o->bandwidth_gbs,
                  "Roofline against this bandwidth (GB/s) instead of measuring it")
      ->check(CLI::PositiveNumber)->excludes(bw);
  cmd->add_option("--bandwidth-mib", o->bandwidth_mib, "Buffer of the bandwidth measurement")
      ->check(CLI::Range(64, 1 << 16))->capture_default_str();
  cmd->add_flag("--compute-peak", o->compute_peak,
                "Measure the CPU's f32 and int8 arithmetic peak at each thread count, and report "
                "prompt processing's share of it");
  cmd->add_flag("--progress", o->progress, "Progress lines on stderr");
  cmd->callback([o] {
    if (o->models.empty() && !o->bandwidth && !o->compute_peak)
      fail("bench: give at least one model (-m FILE), --bandwidth or --compute-peak");
    std::vector<bench::Bandwidth> bws;
    std::vector<bench::ComputePeak> peaks;
    double gbs = o->bandwidth_gbs;
    std::set<int> counts;
    for (int t : o->threads)
      counts.insert(t > 0 ? t : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    if (o->compute_peak)
      for (int t : counts) peaks.push_back(bench::compute_peak(t));
    // --bandwidth: one buffer for the measurements before the runs and those around each
    // repetition's generation (bench::Params::bandwidth).
    std::optional<bench::BandwidthMeter> meter;
    if (o->bandwidth) {
      meter.emplace(uint64_t(o->bandwidth_mib) << 20);
      for (int t : counts) {
        bws.push_back(meter->read(t));
        if (o->progress)
          fmt::print(stderr, "bandwidth, {} thread(s): {:.2f} GB/s\n", t, bws.back().gb_per_s);
        gbs = std::max(gbs, bws.back().gb_per_s);
      }
    }
    std::vector<bench::Result> results;
    auto progress = [&](std::string_view line) {
      if (o->progress) fmt::print(stderr, "{}\n", line);
    };
    for (const auto& model : o->models)
      for (const auto& device : o->backends)
        for (int t : o->threads)
          for (const auto& kernels : o->kernels)
            for (int n_prompt : o->n_prompt)
              for (int n_gen : o->n_gen) {
                bench::Params p{.model = model,
                                .load = load_options_for(device, t),
                                .context = {.n_ctx = o->n_ctx},
                                .n_prompt = n_prompt,
                                .n_gen = n_gen,
                                .reps = o->reps,
                                .bandwidth = meter ? &*meter : nullptr};
                p.load.kernels = kernels == "vendor" ? KernelChoice::Vendor : KernelChoice::Portable;
                results.push_back(bench::run(p, progress));
              }
    if (o->output == "json") print_json(results, bws, peaks, gbs);
    else if (o->output == "csv") print_csv(results, bws, peaks, gbs);
    else print_markdown(results, bws, peaks, gbs, o->n_prompt.size() > 1);
  });
}

}  // namespace isomer::cli
