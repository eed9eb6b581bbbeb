// `isomer compare`: the engine (isomer::compare) on stories260K and a tiny synthetic model,
// with a test-only device that corrupts one op's output (the divergence must be located to
// that block and op) or has too little memory (the row must say the model does not fit); the
// JSON against docs/compare.schema.json; merging; the SVG; and the CLI's exit codes.
#include <gtest/gtest.h>
#include <isomer/backend.h>
#include <isomer/compare.h>
#include <isomer/error.h>
#include <isomer/synth.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "compare/energy.h"
#include "test_backends.h"
#include "test_data.h"

namespace isomer {
namespace {

using json = nlohmann::json;

// A device that runs the CPU kernels one step at a time and, after the step labelled
// `corrupt`, adds 1 to every element of its output; or refuses allocations beyond `capacity`.
struct Fault {
  std::string corrupt;
  size_t capacity = 0;  // 0: unlimited
};

class FaultyDevice final : public Device {
 public:
  FaultyDevice(std::unique_ptr<Device> cpu, const Fault& fault) : cpu_(std::move(cpu)), fault_(fault) {
    props_ = cpu_->properties();
    props_.id = "faulty:0";
    props_.name = "test double";
  }
  const DeviceProperties& properties() const override { return props_; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    if (fault_.capacity && allocated_ + bytes > fault_.capacity)
      fail_with<DeviceError>("faulty:0: out of memory ({} bytes wanted, {} free)", bytes,
                             fault_.capacity - allocated_);
    allocated_ += bytes;
    return cpu_->allocate(bytes);
  }
  std::unique_ptr<Buffer> wrap_host(const void* data, size_t bytes) override {
    if (fault_.capacity) return nullptr;  // "device memory": weights are uploaded
    return cpu_->wrap_host(data, bytes);
  }
  Support supports(const Op& op, std::span<const TensorDesc> in, const TensorDesc& out) const override {
    return cpu_->supports(op, in, out);
  }
  void run(std::span<const Step> steps) override {
    for (const Step& s : steps) {
      cpu_->run({&s, 1});
      if (s.label != fault_.corrupt) continue;
      cpu_->synchronize();
      std::vector<float> v(static_cast<size_t>(s.output.desc.elements()));
      s.output.buffer->read(s.output.offset, v.data(), s.output.desc.bytes());
      for (float& x : v) x += 1.0f;
      s.output.buffer->write(s.output.offset, v.data(), s.output.desc.bytes());
    }
  }
  void synchronize() override { cpu_->synchronize(); }

 private:
  std::unique_ptr<Device> cpu_;
  Fault fault_;
  size_t allocated_ = 0;
  DeviceProperties props_;
};

class FaultyBackend final : public Backend {
 public:
  Fault fault;
  std::string_view name() const override { return "faulty"; }
  std::vector<DeviceProperties> devices() override {
    auto p = backend("cpu").devices().front();
    p.id = "faulty:0";
    return {p};
  }
  std::unique_ptr<Device> open(int, const DeviceOptions& options) override {
    return std::make_unique<FaultyDevice>(backend("cpu").open(0, options), fault);
  }
};

FaultyBackend& faulty() {
  static FaultyBackend* b = [] {
    auto* f = new FaultyBackend;
    add_backend(*f);
    return f;
  }();
  return *b;
}

std::string stories() { return test::model_path("stories260K.gguf").string(); }

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string schema() { return read(std::filesystem::path(ISOMER_SOURCE_DIR) / "docs" / "compare.schema.json"); }

compare::Options quick(const std::string& model, std::vector<std::string> backends) {
  compare::Options o;
  o.model = model;
  o.backends = std::move(backends);
  o.n_prompt = 8;
  o.n_gen = 4;
  o.reps = 1;
  o.greedy_tokens = 4;
  o.threads = 2;
  o.bandwidth_gbs = 10;  // given: no measurement in tests
  return o;
}

void expect_valid(const std::string& report) {
  const auto problems = compare::validate(report, schema());
  EXPECT_TRUE(problems.empty()) << problems.size() << " problem(s), first: " << problems.front();
}

const json& row_of(const json& r, const std::string& device) {
  for (const auto& row : r["rows"])
    if (row["device"] == device || row["requested"] == device) return row;
  throw std::runtime_error("no row " + device);
}

TEST(Compare, CpuReportOnStories260K) {
  const std::string text = compare::run(quick(stories(), {"cpu"}));
  expect_valid(text);
  const json r = json::parse(text);
  ASSERT_EQ(r["rows"].size(), 1u);
  const json& cpu = r["rows"][0];
  EXPECT_EQ(cpu["status"], "ok");
  EXPECT_EQ(cpu["device"], "cpu:0");
  EXPECT_TRUE(cpu["reference"].get<bool>());
  EXPECT_EQ(r["reference"], "cpu:0");
  // Provenance: every node on the CPU, one split, nothing copied.
  EXPECT_EQ(cpu["provenance"]["splits"], 1);
  EXPECT_EQ(cpu["provenance"]["copied_bytes"], 0);
  EXPECT_TRUE(cpu["provenance"]["fallbacks"].empty());
  EXPECT_EQ(cpu["provenance"]["ops"]["mul_mat"]["cpu:0"].get<int>() % 7, 1);  // 7 per block + output
  // Against itself: exact.
  EXPECT_EQ(cpu["agreement"]["kl_max"], 0.0);
  EXPECT_EQ(cpu["agreement"]["top1"], 1.0);
  EXPECT_EQ(cpu["agreement"]["layers"].size(), 5u);
  EXPECT_TRUE(cpu["agreement"]["first_divergent_layer"].is_null());
  EXPECT_GT(cpu["speed"]["pp"]["mean"].get<double>(), 0);
  EXPECT_GT(cpu["speed"]["tg"]["mean"].get<double>(), 0);
  EXPECT_FALSE(cpu["speed"]["roofline_pct"].is_null());
  // oneDNN's name where it is built in, else why not (CpuVendorShare checks the measurement).
  EXPECT_FALSE(cpu["vendor_libraries"].get<std::string>().empty());
  EXPECT_EQ(r["model"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(compare::strict_violations(text), std::vector<std::string>{});
  const std::string table = compare::render(text, compare::Format::Table);
  for (const char* label : {"runs?", "same answer?", "how fast?", "environment", "KL mean / max", "KL by position",
                            "generation tokens/s", "energy", "vendor libraries", "vendor share", "op × device"})
    EXPECT_NE(table.find(label), std::string::npos) << label << "\n" << table;
}

// With oneDNN built in, the CPU row measures --kernels vendor too and reports the speed share
// owed to it; a prompt of more than 8 tokens, so that its products go to oneDNN.
TEST(Compare, CpuVendorShareOnStories260K) {
  if (std::ranges::count(test::vendor_backends(), "cpu_vendor") == 0)
    GTEST_SKIP() << "cpu --kernels vendor unavailable: " << test::no_vendor_reason("cpu");
  auto o = quick(stories(), {"cpu"});
  o.n_prompt = 32;
  const std::string text = compare::run(o);
  expect_valid(text);
  const json cpu = json::parse(text)["rows"][0];
  EXPECT_TRUE(cpu["vendor_libraries"].get<std::string>().starts_with("oneDNN ")) << cpu["vendor_libraries"];
  const json& v = cpu["vendor_share"];
  EXPECT_EQ(v["library"], cpu["vendor_libraries"]);
  ASSERT_TRUE(v["pp_share"].is_number()) << v["note"];
  ASSERT_TRUE(v["tg_share"].is_number()) << v["note"];
  EXPECT_GT(v["pp"]["mean"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(v["pp_share"].get<double>(),
                   1 - cpu["speed"]["pp"]["mean"].get<double>() / v["pp"]["mean"].get<double>());
  for (const auto format : {compare::Format::Table, compare::Format::Markdown, compare::Format::Csv})
    EXPECT_NE(compare::render(text, format).find(fmt::format("{:+.1f} % / {:+.1f} % ({})", 100 * v["pp_share"].get<double>(),
                                                             100 * v["tg_share"].get<double>(), v["library"].get<std::string>())),
              std::string::npos);

  // A model whose matrices are all quantised: nothing for oneDNN, said so without a run.
  const std::string q = compare::run(quick(test::model_path("llama-syn-q4_0.gguf").string(), {"cpu"}));
  expect_valid(q);
  const json qv = json::parse(q)["rows"][0]["vendor_share"];
  EXPECT_TRUE(qv["pp_share"].is_null());
  EXPECT_NE(qv["note"].get<std::string>().find("nothing to accelerate"), std::string::npos) << qv["note"];
}

TEST(Compare, CpuWithoutOneDnnSaysSo) {
  if (std::ranges::count(test::no_vendor_backends(), "cpu") == 0)
    GTEST_SKIP() << "this build has oneDNN (CpuVendorShareOnStories260K covers it)";
  auto o = quick(stories(), {"cpu"});
  o.reps = 0;
  const json cpu = json::parse(compare::run(o))["rows"][0];
  EXPECT_EQ(cpu["vendor_libraries"], "n/a: oneDNN was not built in");
  EXPECT_EQ(cpu["vendor_share"]["note"], "n/a: oneDNN was not built in");
}

// Why Vulkan cannot run here; empty where it can.
std::string vulkan_unavailable() {
  const auto all = backends();
  if (std::none_of(all.begin(), all.end(), [](Backend* b) { return b->name() == "vulkan"; }))
    return "this build has no Vulkan backend (ISOMER_VULKAN=OFF or no toolchain)";
  if (backend("vulkan").devices().empty()) return backend("vulkan").unavailable_reason();
  return "";
}
#define REQUIRE_VULKAN()                                                               \
  if (const std::string why = vulkan_unavailable(); !why.empty()) GTEST_SKIP() << "vulkan unavailable: " << why

TEST(Compare, VulkanAgainstCpuOnStories260K) {
  REQUIRE_VULKAN();
  const std::string text = compare::run(quick(stories(), {"cpu", "vulkan"}));
  expect_valid(text);
  const json r = json::parse(text);
  ASSERT_EQ(r["rows"].size(), 2u);
  const json& vk = r["rows"][1];
  ASSERT_EQ(vk["status"], "ok") << vk["reason"];
  EXPECT_EQ(vk["device"], "vulkan:0");
  EXPECT_GT(vk["provenance"]["ops"]["mul_mat"]["vulkan:0"].get<int>(), 0);
  EXPECT_LT(vk["agreement"]["kl_max"].get<double>(), 1e-3);
  EXPECT_GE(vk["agreement"]["top1"].get<double>(), 0.99);
  EXPECT_TRUE(vk["agreement"]["first_greedy_divergence"].is_null());
  EXPECT_TRUE(vk["agreement"]["first_divergent_layer"].is_null());
  EXPECT_FALSE(vk["device_info"]["driver"].get<std::string>().empty());
  // Within the thresholds calibrated for F32 weights.
  EXPECT_EQ(r["thresholds"]["kl"], 1e-5);
  EXPECT_EQ(compare::strict_violations(text), std::vector<std::string>{});
}

// A quantized model's backends differ by more than an F32 model's (activations are rounded to
// the weights' formats, sums run in other orders) and stay within the thresholds calibrated
// for quantized weights; the fixed KL threshold of 1e-3 used before flagged this pair.
TEST(Compare, VulkanAgainstCpuOnAQuantizedModelPassesStrict) {
  REQUIRE_VULKAN();
  auto o = quick(test::model_path("qwen2-syn-q4_k_m.gguf").string(), {"cpu", "vulkan"});
  o.reps = 0;
  o.greedy_tokens = 16;
  const std::string text = compare::run(o);
  expect_valid(text);
  const json r = json::parse(text);
  EXPECT_EQ(r["thresholds"]["kl"], 2.5e-3);
  EXPECT_NE(r["thresholds"]["basis"].get<std::string>().find("quantized weights"), std::string::npos);
  const json& a = row_of(r, "vulkan:0")["agreement"];
  EXPECT_GT(a["kl_max"].get<double>(), 1e-5);  // not bit-identical: the thresholds matter here
  EXPECT_EQ(compare::strict_violations(text), std::vector<std::string>{});
}

TEST(Compare, ThresholdsAreCalibratedForTheModelsWeights) {
  struct Case {
    const char* file;
    double kl, top1, logit_error, layer_nmse;
    const char* basis;
  };
  for (const Case& c : {Case{"stories260K.gguf", 1e-5, 1.0, 0.03, 1e-6, "F32 weights"},
                        Case{"stories260K-f16.gguf", 3e-4, 0.96, 0.15, 1e-4, "16-bit weights (F16)"},
                        Case{"stories260K-bf16.gguf", 3e-4, 0.96, 0.15, 1e-4, "16-bit weights (BF16)"},
                        Case{"stories260K-q8_0.gguf", 2.5e-3, 0.88, 0.35, 5e-3, "quantized weights (Q8_0)"},
                        Case{"qwen2-syn-q4_k_m.gguf", 2.5e-3, 0.88, 0.35, 5e-3, "quantized weights (Q6_K, Q4_K"}}) {
    const auto f = gguf::File::open(test::model_path(c.file).string());
    const compare::Calibration t = compare::calibrated_thresholds(*f);
    EXPECT_EQ(t.kl, c.kl) << c.file;
    EXPECT_EQ(t.top1, c.top1) << c.file;
    EXPECT_EQ(t.logit_error, c.logit_error) << c.file;
    EXPECT_EQ(t.layer_nmse, c.layer_nmse) << c.file;
    EXPECT_TRUE(t.basis.starts_with(c.basis)) << c.file << ": " << t.basis;
  }
  // In the report: given thresholds replace calibrated ones, and the basis says which.
  auto o = quick(stories(), {"cpu"});
  o.reps = 0;
  o.thresholds.kl = 0.5;
  const json r = json::parse(compare::run(o));
  EXPECT_EQ(r["thresholds"]["kl"], 0.5);
  EXPECT_EQ(r["thresholds"]["top1"], 1.0);
  EXPECT_EQ(r["thresholds"]["basis"], "given: kl; the rest calibrated for F32 weights");
}

// A greedy divergence where the reference's choice led by no more than twice the logit-error
// threshold can come from logits within that threshold: reported, but not refused by --strict.
TEST(Compare, GreedyDivergenceAtANearTieIsReportedNotRefused) {
  auto o = quick(stories(), {"cpu"});
  o.reps = 0;
  json r = json::parse(compare::run(o));
  json& a = r["rows"][0]["agreement"];
  ASSERT_TRUE(compare::strict_violations(r.dump()).empty());
  const double limit = 2 * r["thresholds"]["logit_error"].get<double>();
  a["first_greedy_divergence"] = 3;
  a["greedy_divergence_margin"] = 0.9 * limit;
  EXPECT_TRUE(compare::strict_violations(r.dump()).empty());
  const std::string table = compare::render(r.dump(), compare::Format::Table);
  EXPECT_NE(table.find("3 (the reference's choice led by"), std::string::npos) << table;
  a["greedy_divergence_margin"] = 1.1 * limit;
  auto v = compare::strict_violations(r.dump());
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].find("greedy decoding diverges at token 3, where the reference's choice led by"), std::string::npos)
      << v[0];
  a.erase("greedy_divergence_margin");  // a report without the margin: refused
  EXPECT_EQ(compare::strict_violations(r.dump()).size(), 1u);
}

TEST(Compare, InjectedFaultIsLocatedToItsBlockAndOp) {
  faulty().fault = {.corrupt = "blk.2.ffn_up"};
  auto o = quick(stories(), {"cpu", "faulty"});
  o.reps = 0;
  const std::string text = compare::run(o);
  expect_valid(text);
  const json r = json::parse(text);
  const json& f = row_of(r, "faulty:0");
  ASSERT_EQ(f["status"], "ok") << f["reason"];
  const json& a = f["agreement"];
  EXPECT_EQ(a["layers"][0]["nmse"], 0.0);  // the same kernels before the fault: bit for bit
  EXPECT_EQ(a["layers"][1]["nmse"], 0.0);
  EXPECT_GT(a["layers"][2]["nmse"].get<double>(), 1e-3);
  ASSERT_FALSE(a["first_divergent_layer"].is_null());
  EXPECT_EQ(a["first_divergent_layer"]["name"], "blk.2");
  ASSERT_FALSE(a["first_divergent_op"].is_null());
  EXPECT_EQ(a["first_divergent_op"]["name"], "blk.2.ffn_up");
  EXPECT_GT(a["kl_max"].get<double>(), 0);
  const auto v = compare::strict_violations(text);
  ASSERT_FALSE(v.empty());
  bool located = false;
  for (const auto& s : v) located |= s.find("diverges at blk.2") != std::string::npos;
  EXPECT_TRUE(located);
  const std::string table = compare::render(text, compare::Format::Table);
  EXPECT_NE(table.find("blk.2 / blk.2.ffn_up"), std::string::npos);
  // The per-position line ends with the worst position of the faulty row.
  const json& kl = a["kl_per_position"];
  ASSERT_EQ(kl.size(), a["positions"].get<size_t>());
  size_t worst = 0;
  for (size_t p = 1; p < kl.size(); ++p)
    if (kl[p].get<double>() > kl[worst].get<double>()) worst = p;
  const size_t line = table.find("KL by position");
  ASSERT_NE(line, std::string::npos);
  const std::string text_line = table.substr(line, table.find('\n', line) - line);
  EXPECT_NE(text_line.find("(" + std::to_string(worst) + ")"), std::string::npos) << text_line;
  faulty().fault = {};
}

TEST(Compare, ModelThatDoesNotFitIsARowNotAFailure) {
  faulty().fault = {.corrupt = "", .capacity = 64 << 10};  // stories260K's weights are ~1 MiB
  auto o = quick(stories(), {"cpu", "faulty"});
  o.reps = 0;
  const std::string text = compare::run(o);
  expect_valid(text);
  const json r = json::parse(text);
  const json& f = row_of(r, "faulty:0");
  EXPECT_EQ(f["status"], "does not fit");
  EXPECT_NE(f["reason"].get<std::string>().find("out of memory"), std::string::npos) << f["reason"];
  faulty().fault = {};
}

TEST(Compare, UnknownAndUnavailableBackends) {
  try {
    compare::run(quick(stories(), {"cpu", "nosuch"}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nosuch"), std::string::npos) << e.what();
  }
  auto o = quick(stories(), {"cpu", "cuda"});
  o.reps = 0;
  const std::string text = compare::run(o);
  expect_valid(text);
  const json r = json::parse(text);
  const json& cuda = row_of(r, "cuda");
  EXPECT_EQ(cuda["status"], "unavailable");
  EXPECT_FALSE(cuda["reason"].get<std::string>().empty());
  EXPECT_EQ(compare::strict_violations(text).size(), 1u);
}

TEST(Compare, TinySyntheticModel) {
  const auto path = std::filesystem::temp_directory_path() / "isomer-compare-tiny.gguf";
  synth::Options so;
  so.n_layer = 2;
  synth::synthesize(so, path.string());
  auto o = quick(path.string(), {"cpu"});
  o.eval_text = "the quick brown fox jumps over the lazy dog";
  o.prompt_text = "a prompt of a few words";
  const std::string text = compare::run(o);
  expect_valid(text);
  const json r = json::parse(text);
  EXPECT_EQ(r["eval"]["source"], "given");
  EXPECT_EQ(r["speed_params"]["prompt"], "given text, repeated or cut to n_prompt");
  EXPECT_GT(r["rows"][0]["speed"]["pp"]["mean"].get<double>(), 0);
  EXPECT_EQ(r["rows"][0]["agreement"]["layers"].size(), 2u);
  std::filesystem::remove(path);
}

TEST(Compare, EnergyFromPowercapWhereReadableElseTheReason) {
  const auto dir = std::filesystem::temp_directory_path() / "isomer-compare-powercap";
  std::filesystem::create_directories(dir / "intel-rapl:0" / "intel-rapl:0:0");
  std::ofstream(dir / "intel-rapl:0" / "energy_uj") << "1000000\n";
  std::ofstream(dir / "intel-rapl:0" / "max_energy_range_uj") << "262143328850\n";
  setenv("ISOMER_POWERCAP_DIR", dir.c_str(), 1);
  json r = json::parse(compare::run(quick(stories(), {"cpu"})));
  // The fake counter stands still: 0 J, but measured, per token of each phase too.
  EXPECT_EQ(r["rows"][0]["energy"]["joules"], 0.0);
  EXPECT_EQ(r["rows"][0]["energy"]["prompt_joules_per_token"], 0.0);
  EXPECT_EQ(r["rows"][0]["energy"]["generation_joules_per_token"], 0.0);
  EXPECT_NE(r["rows"][0]["energy"]["note"].get<std::string>().find("RAPL"), std::string::npos);
  setenv("ISOMER_POWERCAP_DIR", (dir / "absent").c_str(), 1);
  r = json::parse(compare::run(quick(stories(), {"cpu"})));
  unsetenv("ISOMER_POWERCAP_DIR");
  EXPECT_TRUE(r["rows"][0]["energy"]["joules"].is_null());
  EXPECT_EQ(r["rows"][0]["energy"]["note"].get<std::string>().rfind("n/a: ", 0), 0u);
  std::filesystem::remove_all(dir);
}

// Each device's own counter: RAPL for the CPU and CPU-type Vulkan devices, amdgpu's hwmon for
// HIP devices (NVML for NVIDIA GPUs cannot be faked here), with wrap-arounds accounted for.
TEST(Compare, EnergyMetersReadTheDevicesOwnCounter) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "isomer-compare-meters";
  fs::remove_all(dir);
  fs::create_directories(dir / "powercap" / "intel-rapl:0");
  std::ofstream(dir / "powercap" / "intel-rapl:0" / "energy_uj") << "1000000\n";
  std::ofstream(dir / "powercap" / "intel-rapl:0" / "max_energy_range_uj") << "2000000\n";
  for (const char* h : {"hwmon0", "hwmon1", "hwmon2"}) fs::create_directories(dir / "hwmon" / h);
  std::ofstream(dir / "hwmon" / "hwmon0" / "name") << "k10temp\n";
  std::ofstream(dir / "hwmon" / "hwmon1" / "name") << "amdgpu\n";
  std::ofstream(dir / "hwmon" / "hwmon1" / "energy1_input") << "5000000\n";
  std::ofstream(dir / "hwmon" / "hwmon2" / "name") << "amdgpu\n";  // power only
  setenv("ISOMER_POWERCAP_DIR", (dir / "powercap").c_str(), 1);
  setenv("ISOMER_HWMON_DIR", (dir / "hwmon").c_str(), 1);
  std::string why;

  auto cpu = compare::energy_meter("cpu", {.id = "cpu:0"}, why);
  ASSERT_TRUE(cpu) << why;
  std::ofstream(dir / "powercap" / "intel-rapl:0" / "energy_uj") << "1500000\n";
  EXPECT_DOUBLE_EQ(cpu->joules(), 0.5);
  std::ofstream(dir / "powercap" / "intel-rapl:0" / "energy_uj") << "100000\n";  // wrapped at 2 J
  EXPECT_DOUBLE_EQ(cpu->joules(), 1.1);
  DeviceProperties lavapipe{.id = "vulkan:0", .name = "llvmpipe", .vendor = "Mesa"};
  lavapipe.extra = {{"type", "CPU"}};
  auto vk = compare::energy_meter("vulkan", lavapipe, why);
  ASSERT_TRUE(vk) << why;
  EXPECT_NE(vk->what().find("RAPL"), std::string::npos);

  auto hip = compare::energy_meter("hip", {.id = "hip:0"}, why);
  ASSERT_TRUE(hip) << why;
  std::ofstream(dir / "hwmon" / "hwmon1" / "energy1_input") << "7000000\n";
  EXPECT_DOUBLE_EQ(hip->joules(), 2.0);
  EXPECT_FALSE(compare::energy_meter("hip", {.id = "hip:1"}, why));
  EXPECT_NE(why.find("no energy counter"), std::string::npos) << why;
  EXPECT_FALSE(compare::energy_meter("hip", {.id = "hip:2"}, why));
  EXPECT_NE(why.find("no amdgpu hwmon"), std::string::npos) << why;

  // NVIDIA: NVML where the driver has it, else why not.
  auto nv = compare::energy_meter("cuda", {.id = "cuda:0", .name = "none", .vendor = "NVIDIA"}, why);
  if (!nv) EXPECT_EQ(why.rfind("n/a: ", 0), 0u) << why;
  EXPECT_FALSE(compare::energy_meter("vulkan", {.id = "vulkan:1", .vendor = "Intel"}, why));
  EXPECT_EQ(why, "n/a: no energy counter known for Intel devices");
  unsetenv("ISOMER_POWERCAP_DIR");
  unsetenv("ISOMER_HWMON_DIR");
  fs::remove_all(dir);
}

TEST(Compare, Sha256OfAKnownFile) {
  const auto path = std::filesystem::temp_directory_path() / "isomer-compare-abc.txt";
  std::ofstream(path) << "abc";
  EXPECT_EQ(compare::sha256_file(path.string()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::filesystem::remove(path);
}

TEST(Compare, SchemaValidatorCatchesProblems) {
  json r = json::parse(compare::run([] {
    auto o = quick(stories(), {"cpu"});
    o.reps = 0;
    return o;
  }()));
  r.erase("model");
  r["rows"][0]["status"] = "fine";
  r["rows"][0]["agreement"]["kl_max"] = "small";
  const auto problems = compare::validate(r.dump(), schema());
  ASSERT_EQ(problems.size(), 4u) << problems.size();  // the anyOf, and its object branch's problem
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_NE(all.find("'model' is missing"), std::string::npos) << all;
  EXPECT_NE(all.find("/rows/0/status"), std::string::npos) << all;
  EXPECT_NE(all.find("/rows/0/agreement/kl_max"), std::string::npos) << all;
}

TEST(Compare, MergeOfTwoRecordedReports) {
  auto o = quick(stories(), {"cpu"});
  o.reps = 0;
  json a = json::parse(compare::run(o));
  json b = a;
  b["hosts"][0]["name"] = "other-machine";
  for (auto& row : b["rows"]) row["host"] = "other-machine";
  const std::string merged = compare::merge({a.dump(), b.dump()});
  expect_valid(merged);
  const json m = json::parse(merged);
  EXPECT_EQ(m["hosts"].size(), 2u);
  ASSERT_EQ(m["rows"].size(), 2u);
  EXPECT_EQ(m["rows"][1]["host"], "other-machine");
  EXPECT_FALSE(m.contains("notes"));
  const std::string table = compare::render(merged, compare::Format::Table);
  EXPECT_NE(table.find("@other-machine"), std::string::npos) << table;
  EXPECT_THROW(compare::merge({a.dump(), "{\"schema\": \"other\"}"}), Error);
  // The same device on the same host twice: one row, the later one, and a note.
  json again = a;
  again["rows"][0]["agreement"]["kl_mean"] = 1e-9;  // tells the two apart
  const json twice = json::parse(compare::merge({a.dump(), again.dump(), b.dump()}));
  expect_valid(twice.dump());
  ASSERT_EQ(twice["rows"].size(), 2u);
  EXPECT_EQ(twice["rows"][0]["agreement"]["kl_mean"], 1e-9);
  ASSERT_TRUE(twice.contains("notes"));
  ASSERT_EQ(twice["notes"].size(), 1u);
  EXPECT_NE(twice["notes"][0].get<std::string>().find("report 2 measured cpu:0 on"), std::string::npos) << twice["notes"];
}

// Tags balance and attributes are quoted: enough of XML well-formedness for a hand-written SVG.
void expect_well_formed(const std::string& svg) {
  std::vector<std::string> open;
  const std::regex tag(R"(<(/?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<]*")*)\s*(/?)>)");
  size_t pos = 0, tags = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tag); it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    const std::string between = svg.substr(pos, static_cast<size_t>(m.position()) - pos);
    EXPECT_EQ(between.find('<'), std::string::npos) << "malformed tag near: " << between.substr(0, 80);
    pos = static_cast<size_t>(m.position() + m.length());
    ++tags;
    if (m[1] == "/") {
      ASSERT_FALSE(open.empty()) << "closing " << m[2] << " with nothing open";
      EXPECT_EQ(open.back(), m[2]);
      open.pop_back();
    } else if (m[4] != "/") {
      open.push_back(m[2]);
    }
  }
  EXPECT_TRUE(open.empty()) << open.size() << " unclosed, first " << open.front();
  EXPECT_GT(tags, 10u);
}

TEST(Compare, SvgIsWellFormedAndHasTheSeries) {
  faulty().fault = {};
  const std::string text = compare::run(quick(stories(), {"cpu", "faulty", "cuda"}));
  const std::string svg = compare::render(text, compare::Format::Svg);
  expect_well_formed(svg);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  for (const char* s : {"class=\"pp\"", "class=\"tg\"", "class=\"roofline\"", "class=\"kl\"",
                        "class=\"top1\"", "id=\"speed\"", "id=\"agreement\"", "faulty:0", "cpu:0 (ref)",
                        "unavailable", "id=\"kl-positions\""})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  // KL at each position: one line for the one compared device that ran (the CPU is the
  // reference, CUDA is unavailable here), a point per teacher-forced position.
  const json r = json::parse(text);
  const std::string line = "<polyline class=\"kl-position\"";
  const size_t at = svg.find(line);
  ASSERT_NE(at, std::string::npos) << svg;
  EXPECT_EQ(svg.find(line, at + 1), std::string::npos);
  const size_t from = svg.find("points=\"", at) + 8, to = svg.find('"', from);
  const std::string points = svg.substr(from, to - from);
  EXPECT_EQ(static_cast<int>(std::count(points.begin(), points.end(), ' ')) + 1, r["eval"]["positions"].get<int>());
  const std::string md = compare::render(text, compare::Format::Markdown);
  EXPECT_NE(md.find("| how fast? | generation tokens/s |"), std::string::npos) << md;
  const std::string csv = compare::render(text, compare::Format::Csv);
  EXPECT_EQ(csv.rfind("host,device,reference,section,metric,value\n", 0), 0u);
  EXPECT_NE(csv.find(",cuda,0,runs?,status,unavailable"), std::string::npos) << csv;
}

struct Cli {
  int status = -1;
  std::string out;
};

Cli cli(const std::string& args) {
  const std::string command = test::cli_path().string() + " " + args + " 2>&1";
  const test::CommandResult c = test::run_command(command);
  return {c.status, c.out};
}

const std::string kQuick = " -p 8 -n 4 -r 1 --greedy 4 -t 2 --bandwidth-gbs 10 -q";

TEST(CompareCli, JsonAndStrictExitCodes) {
  const auto dir = std::filesystem::temp_directory_path() / "isomer-compare-cli";
  std::filesystem::create_directories(dir);
  Cli r = cli("compare -m " + stories() + " --backends cpu --strict --json " + (dir / "a.json").string() +
              " --svg " + (dir / "a.svg").string() + " --markdown " + (dir / "a.md").string() + kQuick);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("same answer?"), std::string::npos) << r.out;
  expect_valid(read(dir / "a.json"));
  expect_well_formed(read(dir / "a.svg"));
  EXPECT_NE(read(dir / "a.md").find("# isomer compare"), std::string::npos);

  // A threshold that cannot be one is a clear error.
  r = cli("compare -m " + stories() + " --backends cpu --max-kl -1 -r 0 -q");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("--max-kl"), std::string::npos) << r.out;
  r = cli("compare -m " + stories() + " --backends cpu --min-top1 1.5 -r 0 -q");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("--min-top1"), std::string::npos) << r.out;

  // An unavailable backend is a row, and a failure only under --strict.
  r = cli("compare -m " + stories() + " --backends cpu,cuda -r 0 -q");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("unavailable"), std::string::npos) << r.out;
  r = cli("compare -m " + stories() + " --backends cpu,cuda -r 0 -q --strict");
  EXPECT_EQ(r.status, 3) << r.out;

  // JSON on stdout, and merging recorded reports.
  r = cli("compare -m " + stories() + " --backends cpu -r 0 -q --json 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  expect_valid(r.out);
  std::ofstream(dir / "b.json") << r.out;
  r = cli("compare --merge " + (dir / "a.json").string() + " " + (dir / "b.json").string() + " --json");
  ASSERT_EQ(r.status, 0) << r.out;
  // Both measured cpu:0 on this host: the later row stays, and a note says so.
  const json merged = json::parse(r.out);
  EXPECT_EQ(merged["rows"].size(), 1u);
  ASSERT_TRUE(merged.contains("notes")) << r.out;
  EXPECT_NE(merged["notes"][0].get<std::string>().find("replaces the earlier one"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

// Any agreement metric over its threshold: exit 3 under --strict, 0 without. (Two backends
// that differ: the reference against itself is exact, within any threshold.)
TEST(CompareCli, StrictRefusesAMetricOverItsThreshold) {
  REQUIRE_VULKAN();
  Cli r = cli("compare -m " + stories() + " --backends cpu,vulkan --max-kl 1e-12 --strict -r 0 -q");
  EXPECT_EQ(r.status, 3) << r.out;
  EXPECT_NE(r.out.find("--strict"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KL"), std::string::npos) << r.out;
  r = cli("compare -m " + stories() + " --backends cpu,vulkan --max-kl 1e-12 -r 0 -q");
  EXPECT_EQ(r.status, 0) << r.out;
}

// Without -q, each progress line carries a bar of the work done, ending at 100 %.
TEST(CompareCli, ProgressBarsDuringTheRuns) {
  const Cli r = cli("compare -m " + stories() + " --backends cpu -p 8 -n 4 -r 1 --greedy 4 -t 2 --bandwidth-gbs 10");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("[........................]   0% cpu:0: evaluating"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("% cpu:0:   repetition 1/1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[########################] 100% done"), std::string::npos) << r.out;
}

TEST(CompareCli, UnknownBackendIsAClearError) {
  const Cli r = cli("compare -m " + stories() + " --backends cpu,nosuch -q");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("nosuch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cpu"), std::string::npos) << r.out;  // lists the known ones
}

}  // namespace
}  // namespace isomer
