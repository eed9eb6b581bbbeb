// `isomer bench` and isomer::bench: the outputs parse and carry every field, bad flags are
// clear errors. No timing assertions: only that the figures exist and are positive.
#include <gtest/gtest.h>
#include <isomer/bench.h>
#include <isomer/error.h>
#include <isomer/synth.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "test_data.h"

namespace isomer {
namespace {

namespace fs = std::filesystem;

const std::string& tiny() {
  static const std::string path = [] {
    const std::string p = test::temp_path("tiny-q8_0.gguf").string();
    synth::Options o;
    o.like = "tiny";
    o.type = "q8_0";
    synth::synthesize(o, p);
    return p;
  }();
  return path;
}

struct Result {
  int status = -1;
  std::string out, err;
};

// stdout alone in `out`; stderr in `err`.
Result cli(const std::string& args) {
  Result r;
  const fs::path err = fs::temp_directory_path() / ("isomer-bench-err-" + std::to_string(getpid()));
  test::CommandResult c = test::run_command(test::cli_path().string() + " " + args + " 2>" + err.string());
  r.status = c.status;
  r.out = std::move(c.out);
  std::ifstream in(err);
  r.err.assign(std::istreambuf_iterator<char>(in), {});
  fs::remove(err);
  return r;
}

TEST(Bench, StatsAndTokens) {
  const auto s = bench::stats({1, 2, 3});
  EXPECT_DOUBLE_EQ(s.mean, 2);
  EXPECT_DOUBLE_EQ(s.sd, 1);
  EXPECT_DOUBLE_EQ(bench::stats({5}).sd, 0);
  const auto t = bench::tokens(1024, 300);
  ASSERT_EQ(t.size(), 300u);
  EXPECT_EQ(t, bench::tokens(1024, 300));
  for (int32_t id : t) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 512);
  }
}

TEST(Bench, RunMeasuresEveryRepetition) {
  bench::Params p{.model = tiny(), .load = {.threads = 1}, .context = {}, .n_prompt = 16, .n_gen = 4, .reps = 3};
  const auto r = bench::run(p);
  EXPECT_EQ(r.prompt.samples.size(), 3u);
  EXPECT_EQ(r.generation.samples.size(), 3u);
  EXPECT_GT(r.prompt.mean, 0);
  EXPECT_GT(r.generation.mean, 0);
  EXPECT_EQ(r.threads, 1);
  EXPECT_EQ(r.device, "cpu:0");
  EXPECT_GT(r.peak_rss, 0u);
  EXPECT_EQ(r.model.arch, "llama");
  EXPECT_EQ(r.model.type, "Q8_0");
  EXPECT_GT(r.model.params, 200000);
  // Untied: one row of the embeddings, not all of them, is read per token.
  EXPECT_LT(r.model.bytes_per_token, r.model.weight_bytes);
  p.reps = 0;
  EXPECT_THROW(bench::run(p), Error);
}

// With a bandwidth meter each timed repetition's generation is judged against the bandwidth
// measured around it; the meter's resident buffer is not counted in the run's peak RSS.
TEST(Bench, RooflinePairsEachRepetitionWithItsBandwidth) {
  const bench::BandwidthMeter meter(uint64_t{256} << 20);
  bench::Params p{.model = tiny(), .load = {.threads = 1}, .context = {}, .n_prompt = 8, .n_gen = 4, .reps = 2};
  p.bandwidth = &meter;
  const auto r = bench::run(p);
  ASSERT_EQ(r.generation.samples.size(), 2u);
  ASSERT_EQ(r.generation_bandwidth.size(), 2u);
  const bench::Stats roof = bench::roofline(r, 0);
  ASSERT_EQ(roof.samples.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_GT(r.generation_bandwidth[i], 0);
    EXPECT_DOUBLE_EQ(roof.samples[i], 100.0 * static_cast<double>(r.model.bytes_per_token) *
                                          r.generation.samples[i] / (r.generation_bandwidth[i] * 1e9));
  }
  if (r.peak_rss_of_run) EXPECT_LT(r.peak_rss, meter.bytes()) << "the meter's buffer counted in the peak";

  // Without a meter: every repetition against the one bandwidth given, none without one.
  p.bandwidth = nullptr;
  const auto plain = bench::run(p);
  EXPECT_TRUE(plain.generation_bandwidth.empty());
  const bench::Stats given = bench::roofline(plain, 10);
  ASSERT_EQ(given.samples.size(), 2u);
  EXPECT_DOUBLE_EQ(given.samples[1], 100.0 * static_cast<double>(plain.model.bytes_per_token) *
                                         plain.generation.samples[1] / 10e9);
  EXPECT_TRUE(bench::roofline(plain, 0).samples.empty());
}

TEST(Bench, BandwidthIsPositive) {
  const auto b = bench::read_bandwidth(1, 64 << 20, 0.05);
  EXPECT_GT(b.gb_per_s, 0);
  EXPECT_EQ(b.buffer_bytes, uint64_t{64} << 20);
}

TEST(Bench, ComputePeakIsMeasuredWhereTheCpuHasVectorUnits) {
  const auto p = bench::compute_peak(2, 0.05);
  EXPECT_EQ(p.threads, 2);
  if (p.isa == "none") {
    EXPECT_EQ(p.fp32_gflops, 0);
    EXPECT_EQ(p.int8_gops, 0);
  } else {
    EXPECT_TRUE(p.isa == "avx512+vnni" || p.isa == "avx2") << p.isa;
    EXPECT_GT(p.fp32_gflops, 1);  // any x86 vector unit does far more than 1 GFLOP/s
    EXPECT_GT(p.int8_gops, 1);
    EXPECT_TRUE(std::isfinite(p.fp32_gflops) && std::isfinite(p.int8_gops));
  }
  EXPECT_THROW(bench::compute_peak(0), Error);
}

TEST(Bench, JsonHasEveryField) {
  const Result r = cli("bench -m " + tiny() + " -p 8 -n 4 -r 2 -t 1,2 -o json --bandwidth "
                       "--bandwidth-mib 64 --compute-peak");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 2u);
  for (const auto& x : j["results"]) {
    for (const char* key : {"model", "description", "arch", "type", "size_bytes", "params",
                            "bytes_per_token", "backend", "device", "kernels", "threads", "n_prompt",
                            "n_gen", "reps", "pp", "tg", "peak_rss_bytes", "roofline_pct", "compute_peak_pct"})
      EXPECT_TRUE(x.contains(key)) << key;
    EXPECT_EQ(x["model"], tiny());
    EXPECT_EQ(x["n_prompt"], 8);
    EXPECT_EQ(x["tg"]["samples"].size(), 2u);
    EXPECT_GT(x["pp"]["mean"].get<double>(), 0);
    EXPECT_GT(x["roofline_pct"].get<double>(), 0);
    ASSERT_EQ(x["generation_bandwidth_gb_per_s"].size(), 2u);  // measured around each repetition
    EXPECT_GT(x["generation_bandwidth_gb_per_s"][1].get<double>(), 0);
    EXPECT_EQ(x["roofline"]["samples"].size(), 2u);
    EXPECT_DOUBLE_EQ(x["roofline"]["mean"].get<double>(), x["roofline_pct"].get<double>());
    EXPECT_GT(x["peak_rss_bytes"].get<uint64_t>(), 0u);
  }
  EXPECT_EQ(j["results"][0]["threads"], 1);
  EXPECT_EQ(j["results"][1]["threads"], 2);
  ASSERT_EQ(j["bandwidth"].size(), 2u);
  EXPECT_GT(j["bandwidth"][0]["gb_per_s"].get<double>(), 0);
  ASSERT_EQ(j["compute_peak"].size(), 2u);
  EXPECT_EQ(j["compute_peak"][1]["threads"], 2);
  if (j["compute_peak"][0]["isa"] != "none") {  // the prompt's share of the peak, per result
    for (const auto& x : j["results"]) EXPECT_GT(x["compute_peak_pct"].get<double>(), 0);
  }
}

TEST(Bench, CsvAndMarkdown) {
  Result r = cli("bench -m " + tiny() + " -p 8 -n 4 -r 1 -t 1 -o csv");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::istringstream lines(r.out);
  std::string header, pp, tg;
  std::getline(lines, header);
  std::getline(lines, pp);
  std::getline(lines, tg);
  auto fields = [](const std::string& s) { return std::count(s.begin(), s.end(), ','); };
  EXPECT_EQ(header.rfind("model,description,type,size_bytes,params,backend", 0), 0u) << header;
  EXPECT_EQ(fields(pp), fields(header)) << pp;
  EXPECT_EQ(fields(tg), fields(header)) << tg;
  EXPECT_NE(pp.find(",pp,"), std::string::npos) << pp;
  EXPECT_NE(tg.find(",tg,"), std::string::npos) << tg;

  r = cli("bench -m " + tiny() + " -p 8 -n 4 -r 1 -t 1 --bandwidth-gbs 10");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("| model | size | params | backend | kernels | threads | test | t/s | peak RSS | "
                       "roofline |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| pp8 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| tg4 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("llama 222K Q8_0"), std::string::npos) << r.out;
}

// -p and -n take comma-separated lists, as llama-bench's: each prompt length with each
// generation length is one run; with several prompt lengths each tg row names its prompt's.
TEST(Bench, PromptAndGenerationListsRunEachPair) {
  Result r = cli("bench -m " + tiny() + " -p 8,16 -n 2,0 -r 1 -t 1 -o json");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 4u);
  const int prompts[] = {8, 8, 16, 16}, gens[] = {2, 0, 2, 0};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(j["results"][i]["n_prompt"], prompts[i]) << i;
    EXPECT_EQ(j["results"][i]["n_gen"], gens[i]) << i;
    EXPECT_GT(j["results"][i]["pp"]["mean"].get<double>(), 0) << i;
  }
  r = cli("bench -m " + tiny() + " -p 8,16 -n 2 -r 1 -t 1");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  for (const char* cell : {"| pp8 |", "| tg2@8 |", "| pp16 |", "| tg2@16 |"})
    EXPECT_NE(r.out.find(cell), std::string::npos) << cell << "\n" << r.out;
}

TEST(Bench, BadFlagsAreClearErrors) {
  struct Bad {
    std::string args, message;
  };
  for (const Bad& b : {
           Bad{"bench", "at least one model"},
           Bad{"bench -m " + tiny() + " -o xml", "xml"},
           Bad{"bench -m " + tiny() + " -r 0", "--repetitions"},
           Bad{"bench -m " + tiny() + " -p 0", "--n-prompt"},
           Bad{"bench -m " + tiny() + " -p 8,0", "--n-prompt"},
           Bad{"bench -m " + tiny() + " -t 1,x", "--threads"},
           Bad{"bench -m " + tiny() + " --backend tpu -r 1", "unknown backend 'tpu'"},
           Bad{"bench -m /nonexistent/m.gguf", "/nonexistent/m.gguf"},
           Bad{"bench -m " + tiny() + " -p 3000 -n 64 -r 1 --ctx 256", "exceed"},
           Bad{"bench --bandwidth --bandwidth-gbs 5", "excludes"},
       }) {
    const Result r = cli(b.args);
    EXPECT_NE(r.status, 0) << b.args;
    EXPECT_LT(r.status, 128) << b.args << r.err;
    EXPECT_NE((r.out + r.err).find(b.message), std::string::npos) << b.args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace isomer
