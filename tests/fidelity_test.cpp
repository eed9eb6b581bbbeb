// Model fidelity against llama.cpp: for every ../shared/reference/*.json, the model is run
// teacher-forced over prompt + greedy tokens on every available backend, and its logits are
// compared with llama.cpp's CPU logits. The bars are how far llama.cpp's own Vulkan backend
// is from its CPU backend on these fixtures (see DEVELOPERS.md / the core issue).
#include <gtest/gtest.h>
#include <isomer/agreement.h>
#include <isomer/model.h>
#include <isomer/sampler.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "test_backends.h"
#include "test_data.h"

namespace isomer {
namespace {

struct Bar {
  double logit_error, kl, top1;
};

// llama.cpp Vulkan (lavapipe) vs llama.cpp CPU, worst case over the fixtures.
Bar bar_for(const std::string& peer_desc) {
  if (peer_desc.find("F32") != std::string::npos) return {0.03, 1e-5, 1.00};
  if (peer_desc.find("F16") != std::string::npos) return {0.15, 3e-4, 0.96};  // F16, BF16
  return {0.35, 2.5e-3, 0.88};
}

// Where a backend misses a bar, the entry says by how much and why; the test then holds it to
// `kl` instead and reports when it meets the bar again, so the entry can go.
struct KnownDeviation {
  std::string_view backend, reference;
  double kl;
  std::string_view reason;
};
constexpr KnownDeviation kKnownDeviations[] = {
    {"cpu", "stories260K-q4_0.story.json", 4e-3,
     "isomer's CPU backend reproduces llama.cpp's logits to 1e-4 up to position 7; at position "
     "8 one rounding decision (an F16 value sum or a Q8_0 activation step) falls the other way "
     "and, in a 260K-parameter model with 8-wide heads, shifts every later logit by ~0.1. "
     "Measured KL 3.3e-3 (bar 2.5e-3); logit error 0.24 and top-1 100 % are within the bar."},
    {"cpu_vendor", "stories260K.story.json", 3e-5,
     "oneDNN's f32 GEMM sums each product in its own blocked order (NMSE 2e-14 against double "
     "precision, as exact as a plain f32 sum) instead of llama.cpp's vector partial sums; in this 260K-parameter model with 8-wide heads the last-bit differences "
     "grow to a logit error of 0.021 (bar 0.03, top-1 100 %) and KL 1.7e-5 against the F32 bar "
     "of 1e-5. The F16 / BF16 references meet their bars on the same path."},
    {"cuda_vendor", "stories260K.story.json", 3e-5,
     "cuBLAS's sgemm (exact f32: CUBLAS_PEDANTIC_MATH, no TF32) sums in its own blocked order, as "
     "oneDNN does on the CPU; measured on an H100 (2026-11-23): logit error 0.021 (bar 0.03, top-1 "
     "100 %) and KL 1.8e-5 against the F32 bar of 1e-5. The F16 / BF16 references meet their bars on "
     "the same path, and the portable CUDA kernels meet the F32 bar (KL 3.4e-7)."},
};

const KnownDeviation* known_deviation(std::string_view backend, std::string_view reference) {
  for (const auto& d : kKnownDeviations)
    if (d.backend == backend && d.reference == reference) return &d;
  return nullptr;
}

// A top-1 disagreement only counts where llama.cpp's own choice is clear.
constexpr double kClearMargin = 0.05;

struct Agreement {
  double max_logit_error = 0, max_lse_error = 0, max_kl = 0;
  int counted = 0, agreed = 0;
  double top1() const { return counted ? static_cast<double>(agreed) / counted : 1.0; }
};

Agreement compare(const nlohmann::json& ref, std::span<const float> logits, size_t n_vocab) {
  Agreement a;
  const auto& positions = ref["positions"];
  for (size_t i = 0; i < positions.size(); ++i) {
    std::vector<agreement::TopLogit> top;
    for (const auto& pair : positions[i]["top"])
      top.push_back({pair[0].get<int32_t>(), pair[1].get<double>()});
    // KL(reference || isomer) on the reference's top-32 ids, each side renormalised there.
    const agreement::Position p = agreement::compare(top, positions[i]["lse"].get<double>(),
                                                     logits.subspan(i * n_vocab, n_vocab),
                                                     kClearMargin);
    a.max_lse_error = std::max(a.max_lse_error, p.lse_error);
    a.max_logit_error = std::max(a.max_logit_error, p.max_logit_error);
    a.max_kl = std::max(a.max_kl, p.kl);
    a.counted += p.counted;
    a.agreed += p.agreed;
  }
  return a;
}

std::vector<std::string> reference_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(test::data_dir() / "reference"))
    if (e.path().extension() == ".json") files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return nlohmann::json::parse(in);
}

using Param = std::tuple<std::string, std::string>;  // backend, reference file

class Fidelity : public testing::TestWithParam<Param> {};

TEST_P(Fidelity, TeacherForcedLogitsMatchLlamaCpp) {
  const auto& [backend, file] = GetParam();  // backend: "cpu", or "cpu_vendor" (test_backends.h)
  const auto ref = read_json(test::data_dir() / "reference" / file);
  const auto [name, kernels] = test::backend_and_kernels(backend);
  const auto model = Model::load(test::model_path(ref["model"]), {.backend = name, .kernels = kernels});
  std::vector<int32_t> tokens = ref["prompt_tokens"];
  for (int32_t t : ref["greedy_tokens"]) tokens.push_back(t);
  ASSERT_EQ(tokens.size(), ref["positions"].size());

  Context ctx(*model);
  const auto logits = ctx.eval(tokens, /*all_logits=*/true);
  const size_t n_vocab = static_cast<size_t>(model->config().n_vocab);
  ASSERT_EQ(n_vocab, ref["n_vocab"].get<size_t>());
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));

  const Agreement a = compare(ref, logits, n_vocab);
  const Bar bar = bar_for(ref["peer_desc"]);
  std::cout << fmt::format("[fidelity] {:<8} {:<30} top-1 {:6.2f}% ({}/{})  logit err {:.5f}  "
                           "lse err {:.5f}  KL {:.2e}\n",
                           backend, file, 100 * a.top1(), a.agreed, a.counted, a.max_logit_error,
                           a.max_lse_error, a.max_kl);
  EXPECT_LE(a.max_logit_error, bar.logit_error);
  if (const KnownDeviation* d = known_deviation(backend, file)) {
    EXPECT_LE(a.max_kl, d->kl) << d->reason;
    if (a.max_kl <= bar.kl)
      std::cout << "[fidelity] " << file << " now meets the KL bar on " << backend
                << ": remove its known deviation\n";
  } else {
    EXPECT_LE(a.max_kl, bar.kl);
  }
  EXPECT_GE(a.top1(), bar.top1);
  EXPECT_LE(a.max_lse_error, bar.logit_error);
}

std::string fidelity_name(const testing::TestParamInfo<Param>& info) {
  std::string name = std::get<0>(info.param) + "_" + std::get<1>(info.param);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(References, Fidelity,
                         testing::Combine(testing::ValuesIn(test::available_backends()),
                                          testing::ValuesIn(reference_files())),
                         fidelity_name);

// The references of float models (F32, F16, BF16 weights), the ones vendor kernels change:
// they take no quantised weights (backends/cpu/onednn.h).
std::vector<std::string> float_reference_files() {
  std::vector<std::string> files;
  for (const std::string& f : reference_files()) {
    const std::string desc = read_json(test::data_dir() / "reference" / f)["peer_desc"];
    if (desc.find("F32") != std::string::npos || desc.find("F16") != std::string::npos) files.push_back(f);
  }
  return files;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Fidelity);
INSTANTIATE_TEST_SUITE_P(Vendor, Fidelity,
                         testing::Combine(testing::ValuesIn(test::vendor_backends()),
                                          testing::ValuesIn(float_reference_files())),
                         fidelity_name);

// Greedy generation with incremental decode (prefill, then one token at a time through the
// KV cache) must reproduce llama.cpp's text for the real model.
class Greedy : public testing::TestWithParam<std::string> {};

TEST_P(Greedy, Stories260KReproducesReferenceText) {
  const auto ref = read_json(test::data_dir() / "reference" / "stories260K.story.json");
  const auto model = Model::load(test::model_path("stories260K.gguf"), {.backend = GetParam()});
  const Tokenizer& tok = model->tokenizer();
  const std::vector<int32_t> prompt = tok.encode(ref["prompt"].get<std::string>(), true, false);
  ASSERT_EQ(prompt, ref["prompt_tokens"].get<std::vector<int32_t>>());
  const std::vector<int32_t> expected = ref["greedy_tokens"];

  Context ctx(*model);
  Sampler greedy({.temperature = 0});
  StreamDecoder decoder(tok);
  std::vector<int32_t> generated;
  std::string text;
  auto logits = ctx.eval(prompt);
  while (generated.size() < expected.size()) {
    const int32_t next = greedy.sample(logits);
    generated.push_back(next);
    text += decoder.push(next);
    logits = ctx.eval({&next, 1});
  }
  text += decoder.flush();
  EXPECT_EQ(generated, expected);
  EXPECT_EQ(text, ref["greedy_text"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Backends, Greedy, testing::ValuesIn(test::available_backends()));

ISOMER_INSTANTIATE_UNAVAILABLE_BACKENDS();
ISOMER_INSTANTIATE_NO_VENDOR_KERNELS();

}  // namespace
}  // namespace isomer
