// The C API (isomer.h) and its C++ wrapper (isomer.hpp): what an embedding application does,
// checked against llama.cpp's reference for stories260K, and every misuse the API promises to
// report as a status with a message rather than a crash.
#include <gtest/gtest.h>
#include <isomer/isomer.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <fstream>
#include <string>
#include <vector>

#include "test_data.h"

namespace {

using isomer::cxx::Error;

nlohmann::json story_reference() {
  std::ifstream in(isomer::test::data_dir() / "reference" / "stories260K.story.json");
  return nlohmann::json::parse(in);
}

std::string stories() { return isomer::test::model_path("stories260K.gguf").string(); }

// The status of a failing call, and that its message mentions `needle`.
void expect_failure(isomer_status got, isomer_status want, const std::string& needle) {
  EXPECT_EQ(got, want) << isomer_status_name(got) << ": " << isomer_last_error();
  EXPECT_NE(std::string(isomer_last_error()).find(needle), std::string::npos) << isomer_last_error();
}

TEST(CApi, VersionsAndBackends) {
  EXPECT_EQ(isomer_abi_version(), static_cast<uint32_t>(ISOMER_ABI_VERSION));
  EXPECT_STREQ(isomer_version(), "0.1.0");
  const auto all = isomer::cxx::backends();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all[0].name, "cpu");
  EXPECT_TRUE(all[0].available);
  ASSERT_EQ(all[0].devices.size(), 1u);
  EXPECT_EQ(all[0].devices[0].id, "cpu:0");
  for (const auto& b : all) EXPECT_EQ(b.available, b.unavailable_reason.empty()) << b.name;
}

TEST(CApi, TokenizeAndDetokenizeLikeLlamaCpp) {
  const auto ref = story_reference();
  isomer::cxx::Model model(stories());
  const auto info = model.info();
  EXPECT_STREQ(info.architecture, "llama");
  EXPECT_EQ(info.n_vocab, ref["n_vocab"].get<int64_t>());
  EXPECT_STREQ(info.device, "cpu:0");
  const auto tokens = model.tokenize(ref["prompt"].get<std::string>());
  EXPECT_EQ(tokens, ref["prompt_tokens"].get<std::vector<int32_t>>());
  EXPECT_EQ(model.detokenize(ref["greedy_tokens"].get<std::vector<int32_t>>()), ref["greedy_text"].get<std::string>());
}

TEST(CApi, StreamedGreedyGenerationReproducesReference) {
  const auto ref = story_reference();
  isomer::cxx::Model model(stories());
  isomer::cxx::Session session(model);
  isomer::cxx::Sampler greedy(isomer::cxx::SamplerParams::greedy());
  std::string text;
  const int n = session.generate(greedy, ref["prompt"], static_cast<int>(ref["greedy_tokens"].size()),
                                 [&](std::string_view piece) {
                                   text += piece;
                                   return true;
                                 });
  EXPECT_EQ(n, static_cast<int>(ref["greedy_tokens"].size()));
  EXPECT_EQ(text, ref["greedy_text"].get<std::string>());
  const auto stats = session.stats();
  EXPECT_EQ(stats.prompt_tokens, static_cast<int64_t>(ref["prompt_tokens"].size()));
  EXPECT_EQ(stats.decode_tokens, n - 1);  // the last token is sampled, not evaluated
  EXPECT_GT(stats.decode_tokens_per_second, 0);
  EXPECT_GT(stats.memory_bytes, 0u);
  EXPECT_EQ(stats.splits, 1);
  EXPECT_EQ(stats.fallbacks, 0);
}

TEST(CApi, StopFromTheCallback) {
  isomer::cxx::Model model(stories());
  isomer::cxx::Session session(model);
  isomer::cxx::Sampler greedy(isomer::cxx::SamplerParams::greedy());
  int calls = 0;
  EXPECT_EQ(session.generate(greedy, "Once upon a time", 50, [&](std::string_view) { return ++calls < 3; }), 3);
  EXPECT_EQ(calls, 3);
}

// Evaluating a sequence, truncating it and evaluating the rest again gives the same logits.
TEST(CApi, TruncateThenReevaluate) {
  const auto ref = story_reference();
  isomer::cxx::Model model(stories());
  isomer::cxx::Session session(model);
  std::vector<int32_t> seq = ref["prompt_tokens"];
  for (int32_t t : ref["greedy_tokens"]) seq.push_back(t);
  seq.resize(20);
  const auto full = session.eval(seq, true);
  const std::vector<float> last(full.end() - static_cast<ptrdiff_t>(model.info().n_vocab), full.end());
  session.truncate(12);
  EXPECT_EQ(session.stats().n_past, 12);
  const auto again = session.eval(std::span(seq).subspan(12));
  ASSERT_EQ(again.size(), last.size());
  for (size_t i = 0; i < last.size(); ++i) ASSERT_FLOAT_EQ(again[i], last[i]) << i;
  session.reset();
  EXPECT_EQ(session.stats().n_past, 0);
  const float* logits = nullptr;
  expect_failure(isomer_session_logits(session.get(), &logits, nullptr, nullptr), ISOMER_ERR_RUNTIME,
                 "nothing evaluated");
  expect_failure(isomer_session_truncate(session.get(), 1), ISOMER_ERR_INVALID_ARGUMENT, "cannot keep 1");
}

TEST(CApi, SessionsShareOneModelAndOutliveItsHandle) {
  isomer_model* model = nullptr;
  ASSERT_EQ(isomer_model_load(stories().c_str(), nullptr, &model), ISOMER_OK) << isomer_last_error();
  isomer_session *a = nullptr, *b = nullptr;
  ASSERT_EQ(isomer_session_create(model, nullptr, &a), ISOMER_OK);
  ASSERT_EQ(isomer_session_create(model, nullptr, &b), ISOMER_OK);
  ASSERT_EQ(isomer_model_free(model), ISOMER_OK);  // the sessions keep the weights alive
  const int32_t prompt[] = {1, 403, 407};
  ASSERT_EQ(isomer_session_eval(a, prompt, 3, 0), ISOMER_OK) << isomer_last_error();
  ASSERT_EQ(isomer_session_eval(b, prompt, 3, 0), ISOMER_OK) << isomer_last_error();
  const float *la = nullptr, *lb = nullptr;
  size_t rows = 0, n_vocab = 0;
  ASSERT_EQ(isomer_session_logits(a, &la, &rows, &n_vocab), ISOMER_OK);
  ASSERT_EQ(isomer_session_logits(b, &lb, nullptr, nullptr), ISOMER_OK);
  EXPECT_EQ(rows, 1u);
  EXPECT_EQ(std::vector<float>(la, la + n_vocab), std::vector<float>(lb, lb + n_vocab));
  EXPECT_EQ(isomer_session_free(a), ISOMER_OK);
  EXPECT_EQ(isomer_session_free(b), ISOMER_OK);
}

TEST(CApi, ProgressIsReportedAndCanCancel) {
  std::vector<float> seen;
  isomer::cxx::ModelParams params;
  params.use_mmap = false;
  params.progress = [&](float f) {
    seen.push_back(f);
    return true;
  };
  isomer::cxx::Model model(stories(), params);
  ASSERT_FALSE(seen.empty());
  EXPECT_FLOAT_EQ(seen.back(), 1.0f);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LE(seen[i - 1], seen[i]);

  isomer_model_params p = isomer_model_default_params();
  p.use_mmap = 0;
  p.progress = [](float, void*) { return 0; };
  isomer_model* m = reinterpret_cast<isomer_model*>(1);
  expect_failure(isomer_model_load(stories().c_str(), &p, &m), ISOMER_ERR_CANCELLED, "cancelled");
  EXPECT_EQ(m, nullptr);
}

TEST(CApi, BadInputIsAStatusWithAMessage) {
  isomer_model* m = nullptr;
  expect_failure(isomer_model_load(nullptr, nullptr, &m), ISOMER_ERR_INVALID_ARGUMENT, "path is null");
  expect_failure(isomer_model_load("/nonexistent.gguf", nullptr, &m), ISOMER_ERR_MODEL, "/nonexistent.gguf");
  isomer_model_params p = isomer_model_default_params();
  p.backend = "tpu";
  expect_failure(isomer_model_load(stories().c_str(), &p, &m), ISOMER_ERR_BACKEND, "no backend called 'tpu'");
  p = isomer_model_default_params();
  p.device = 3;
  expect_failure(isomer_model_load(stories().c_str(), &p, &m), ISOMER_ERR_BACKEND, "cpu has no device 3");
  p = isomer_model_default_params();
  p.kernels = 5;
  expect_failure(isomer_model_load(stories().c_str(), &p, &m), ISOMER_ERR_INVALID_ARGUMENT, "kernels 5");
  p.struct_size = offsetof(isomer_model_params, kernels);  // a caller built before `kernels` existed
  ASSERT_EQ(isomer_model_load(stories().c_str(), &p, &m), ISOMER_OK) << isomer_last_error();
  EXPECT_EQ(isomer_model_free(m), ISOMER_OK);
  p = isomer_model_default_params();
  p.struct_size = 0;
  expect_failure(isomer_model_load(stories().c_str(), &p, &m), ISOMER_ERR_INVALID_ARGUMENT, "struct_size");

  ASSERT_EQ(isomer_model_load(stories().c_str(), nullptr, &m), ISOMER_OK);
  isomer_session* s = nullptr;
  expect_failure(isomer_session_create(nullptr, nullptr, &s), ISOMER_ERR_INVALID_HANDLE, "null");
  isomer_session_params sp = isomer_session_default_params();
  sp.kv_type = 7;
  expect_failure(isomer_session_create(m, &sp, &s), ISOMER_ERR_INVALID_ARGUMENT, "kv_type 7");
  sp = isomer_session_default_params();
  sp.n_ctx = 8;
  ASSERT_EQ(isomer_session_create(m, &sp, &s), ISOMER_OK);

  const int32_t outside[] = {1, 512};
  expect_failure(isomer_session_eval(s, outside, 2, 0), ISOMER_ERR_INVALID_TOKEN, "token id 512");
  const std::vector<int32_t> nine(9, 1);
  expect_failure(isomer_session_eval(s, nine.data(), nine.size(), 0), ISOMER_ERR_CONTEXT_FULL, "context holds 8");
  expect_failure(isomer_session_eval(s, nullptr, 0, 0), ISOMER_ERR_INVALID_ARGUMENT, "no tokens");
  isomer_sampler* greedy = nullptr;
  isomer_sampler_params gp = isomer_sampler_default_params();
  gp.temperature = 0;
  ASSERT_EQ(isomer_sampler_create(&gp, &greedy), ISOMER_OK);
  int32_t n = -1;
  expect_failure(isomer_generate(s, greedy, "Once upon a time", 20, nullptr, nullptr, &n), ISOMER_ERR_CONTEXT_FULL,
                 "exceeds the context of 8");
  EXPECT_EQ(n, 0);
  int32_t token = 0;
  expect_failure(isomer_sampler_sample(greedy, s, &token), ISOMER_ERR_RUNTIME, "no logits");
  gp.top_p = 0;
  isomer_sampler* bad = nullptr;
  EXPECT_NE(isomer_sampler_create(&gp, &bad), ISOMER_OK);
  EXPECT_EQ(bad, nullptr);

  int32_t tokens[2];
  size_t count = 0;
  expect_failure(isomer_tokenize(m, "Once upon a time", 16, 1, 0, tokens, 2, &count), ISOMER_ERR_BUFFER_TOO_SMALL,
                 "do not fit");
  EXPECT_EQ(count, 5u);
  char text[4];
  size_t length = 0;
  const int32_t words[] = {403, 407};
  expect_failure(isomer_detokenize(m, words, 2, 0, text, sizeof text, &length), ISOMER_ERR_BUFFER_TOO_SMALL,
                 "do not fit");
  EXPECT_GT(length, 0u);
  expect_failure(isomer_detokenize(m, outside, 2, 0, text, sizeof text, &length), ISOMER_ERR_INVALID_TOKEN, "512");

  // Freed handles are detected; so is a handle of the wrong kind.
  EXPECT_EQ(isomer_sampler_free(greedy), ISOMER_OK);
  expect_failure(isomer_sampler_free(greedy), ISOMER_ERR_INVALID_HANDLE, "already freed");
  expect_failure(isomer_session_free(reinterpret_cast<isomer_session*>(m)), ISOMER_ERR_INVALID_HANDLE, "session");
  EXPECT_EQ(isomer_session_free(s), ISOMER_OK);
  expect_failure(isomer_session_free(s), ISOMER_ERR_INVALID_HANDLE, "already freed");
  EXPECT_EQ(isomer_model_free(m), ISOMER_OK);
  expect_failure(isomer_model_free(m), ISOMER_ERR_INVALID_HANDLE, "already freed");
  expect_failure(isomer_model_free(nullptr), ISOMER_ERR_INVALID_HANDLE, "null");
}

TEST(CApi, WrapperThrowsWithStatusAndMessage) {
  try {
    isomer::cxx::Model model("/nonexistent.gguf");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), ISOMER_ERR_MODEL);
    EXPECT_NE(std::string(e.what()).find("ISOMER_ERR_MODEL: /nonexistent.gguf"), std::string::npos) << e.what();
  }
}

}  // namespace
