// Runtime behaviour beyond the numbers: model-load errors, context limits, the memory
// planner, KV-cache decode against batched prefill, and sampling.
#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/model.h>
#include <isomer/sampler.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>
#include <random>

#include "arch/architecture.h"
#include "graph/planner.h"
#include "test_data.h"

namespace isomer {
namespace {

// A copy of stories260K.gguf with its metadata and tensors edited, written to a temp file.
std::string edited_model(const std::string& tag,
                         const std::function<bool(std::string&, gguf::Value&)>& edit_kv,
                         const std::function<bool(std::string&, std::vector<int64_t>&)>& edit_tensor) {
  const auto src = gguf::File::open(test::model_path("stories260K.gguf"));
  gguf::Writer w;
  for (auto [key, value] : src->metadata())
    if (edit_kv(key, value)) w.set(key, value);
  for (const auto& t : src->tensors()) {
    std::string name = t.name;
    std::vector<int64_t> dims = t.dims;
    const size_t bytes = t.nbytes;
    if (!edit_tensor(name, dims)) continue;
    std::vector<uint8_t> data(t.data, t.data + bytes);
    data.resize(row_bytes(t.type, dims[0]) * static_cast<size_t>(
                    std::accumulate(dims.begin() + 1, dims.end(), int64_t{1}, std::multiplies<>())));
    w.add_tensor(name, t.type, dims, data);
  }
  const auto path = std::filesystem::temp_directory_path() / ("isomer-runtime-test-" + tag + ".gguf");
  w.write(path.string());
  return path.string();
}

const auto keep_kv = [](std::string&, gguf::Value&) { return true; };
const auto keep_tensor = [](std::string&, std::vector<int64_t>&) { return true; };

std::string load_error(const std::string& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelLoad, UnknownArchitectureListsSupportedOnes) {
  const auto path = edited_model("arch", [](std::string& k, gguf::Value& v) {
    if (k == "general.architecture") v = gguf::Value::string("gptj");
    return true;
  }, keep_tensor);
  const std::string e = load_error(path);
  EXPECT_NE(e.find("architecture 'gptj' is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("llama, qwen2, qwen3"), std::string::npos) << e;
}

TEST(ModelLoad, MissingTensorIsNamed) {
  const auto path = edited_model("missing", keep_kv, [](std::string& n, std::vector<int64_t>&) {
    return n != "blk.2.ffn_up.weight";
  });
  EXPECT_NE(load_error(path).find("tensor 'blk.2.ffn_up.weight' is missing"), std::string::npos);
}

TEST(ModelLoad, MisshapenTensorIsNamed) {
  const auto path = edited_model("shape", keep_kv, [](std::string& n, std::vector<int64_t>& d) {
    if (n == "blk.0.attn_q.weight") d = {64, 32};
    return true;
  });
  const std::string e = load_error(path);
  EXPECT_NE(e.find("'blk.0.attn_q.weight' has shape [32, 64]"), std::string::npos) << e;
}

TEST(ModelLoad, MissingHyperParameterIsNamed) {
  const auto path = edited_model("hparam", [](std::string& k, gguf::Value&) {
    return k != "llama.block_count";
  }, keep_tensor);
  EXPECT_NE(load_error(path).find("llama.block_count is missing"), std::string::npos);
}

TEST(ModelLoad, UnknownBackendIsNamed) {
  try {
    Model::load(test::model_path("stories260K.gguf"), {.backend = "tpu"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown backend 'tpu'"), std::string::npos) << e.what();
  }
}

class Stories : public testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Model::load(test::model_path("stories260K.gguf")).release(); }
  static void TearDownTestSuite() { delete model_; }
  static Model* model_;
};
Model* Stories::model_ = nullptr;

TEST_F(Stories, ContextOverflowIsAnError) {
  Context ctx(*model_, {.n_ctx = 8});
  const std::vector<int32_t> tokens(9, 1);
  try {
    ctx.eval(tokens);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs 9 positions but the context holds 8"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(ctx.n_past(), 0);
  EXPECT_THROW(ctx.eval(std::vector<int32_t>{1, 512}), Error);  // outside the vocabulary
  EXPECT_THROW(ctx.eval(std::vector<int32_t>{}), Error);
}

TEST_F(Stories, IncrementalDecodeMatchesBatchedPrefill) {
  const std::vector<int32_t> tokens{1, 403, 407, 261, 378, 432, 383, 286, 261, 376};
  const size_t n_vocab = static_cast<size_t>(model_->config().n_vocab);
  Context batched(*model_);
  const auto all = batched.eval(tokens, true);
  const std::vector<float> expected(all.begin(), all.end());

  Context step(*model_);
  std::vector<float> got;
  auto first = step.eval(std::span(tokens).first(4), true);
  got.assign(first.begin(), first.end());
  for (size_t i = 4; i < tokens.size(); ++i) {
    const auto row = step.eval(std::span(tokens).subspan(i, 1));
    got.insert(got.end(), row.begin(), row.end());
  }
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], expected[i], 1e-4) << "position " << i / n_vocab;
}

// A token's logits are the same bits whether it comes in a prompt or in a decode step, for
// files of the block types (Q4_0, Q8_0, Q4_K_M mixes with Q5_0, Q6_K and Q8_0 tensors), F16,
// BF16 and F32: each weight type's products keep one order for any number of activation rows
// (vec_dot.h), attention's prompt rows give the row-by-row bits
// (Attention.PromptRowsGiveTheRowByRowBits), and SwiGLU's elements do not depend on their place
// (SiluMul.AnElementsBitsDoNotDependOnItsPlace; stories260K's FFN rows of 172 are no multiple of
// the lanes). 20 tokens in one batch, so that a CPU with AMX takes its tiles (16 rows or more),
// against 3 and then one at a time.
class BatchInvariance : public testing::TestWithParam<const char*> {};
TEST_P(BatchInvariance, DecodeGivesThePromptsBits) {
  const auto model = Model::load(test::model_path(GetParam()));
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 20; ++i) tokens.push_back(1 + (i * 7919 + 13) % (model->config().n_vocab - 1));
  Context batched(*model);
  const auto all = batched.eval(tokens, true);
  const std::vector<float> expected(all.begin(), all.end());
  Context step(*model);
  const size_t prompt = 3;
  const auto first = step.eval(std::span(tokens).first(prompt), true);
  std::vector<float> got(first.begin(), first.end());
  for (size_t i = prompt; i < tokens.size(); ++i) {
    const auto row = step.eval(std::span(tokens).subspan(i, 1));
    got.insert(got.end(), row.begin(), row.end());
  }
  ASSERT_EQ(got.size(), expected.size());
  const size_t n_vocab = static_cast<size_t>(model->config().n_vocab);
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], expected[i]) << "position " << i / n_vocab << ", logit " << i % n_vocab;
}
INSTANTIATE_TEST_SUITE_P(Files, BatchInvariance,
                         testing::Values("llama-syn-q4_0.gguf", "stories260K-q4_0.gguf", "stories260K-q8_0.gguf",
                                         "llama-syn-q4_k_m.gguf", "qwen2-syn-q4_k_m.gguf", "qwen3-syn-q4_k_m.gguf",
                                         "llama-syn-f16.gguf", "stories260K-bf16.gguf", "stories260K-f16.gguf", "stories260K.gguf"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

// Decode steps reuse the first decode step's graph, schedule and memory with the position its
// ops hold moved on (Context::decode_plan). Two passes over one sequence: the first builds the
// decode graph at its first decode position (and the next position's, to compare), the second
// reuses it from the start, after a prompt batch has bound other memory and with the position
// moved back. A reused graph must give a freshly built one's logits to the bit.
TEST_F(Stories, DecodeStepsReuseOneGraphWithThePositionMovedOn) {
  const std::vector<int32_t> tokens{1, 403, 407, 261, 378, 432, 383, 286};
  const size_t prompt = 3;
  Context ctx(*model_);
  std::vector<std::vector<float>> rows[2];
  for (int pass = 0; pass < 2; ++pass) {
    ctx.reset();
    ctx.eval(std::span(tokens).first(prompt));
    EXPECT_EQ(ctx.ledger().graphs_built, 1);
    for (size_t i = prompt; i < tokens.size(); ++i) {
      const auto row = ctx.eval(std::span(tokens).subspan(i, 1));
      rows[pass].emplace_back(row.begin(), row.end());
      EXPECT_EQ(ctx.ledger().graphs_built, pass == 0 && i == prompt ? 2 : 0) << "pass " << pass << ", position " << i;
    }
  }
  ASSERT_EQ(rows[0].size(), rows[1].size());
  for (size_t i = 0; i < rows[0].size(); ++i) EXPECT_EQ(rows[0][i], rows[1][i]) << "position " << prompt + i;
}

// Moving a node's position must keep its output: attention past the cache is refused, naming
// the node.
TEST_F(Stories, GraphRefusesAnOpThatChangesItsNodesOutput) {
  GraphBuilder b(*model_, Batch{.n_tokens = 1, .n_past = 2, .n_ctx = 16});
  find_architecture("llama")->build(b);
  Graph g = b.graph();
  size_t attention = 0;
  while (g.nodes()[attention].op.kind() != OpKind::Attention) ++attention;
  AttentionParams p = std::get<AttentionParams>(g.nodes()[attention].op.params);
  p.n_past = 3;
  g.set_op(attention, Op{p});
  EXPECT_EQ(std::get<AttentionParams>(g.nodes()[attention].op.params).n_past, 3);
  p.n_past = 16;
  try {
    g.set_op(attention, Op{p});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(g.nodes()[attention].name), std::string::npos) << e.what();
  }
  EXPECT_THROW(g.set_op(attention, Op{StoreKVParams{3}}), Error);  // another kind of op
}

TEST_F(Stories, PlannerSharesMemoryBetweenDeadValues) {
  GraphBuilder b(*model_, Batch{.n_tokens = 7, .n_past = 0, .n_ctx = 16});
  find_architecture("llama")->build(b);
  const Graph& g = b.graph();
  const MemoryPlan plan = plan_memory(g);
  EXPECT_LT(plan.arena_bytes, plan.unshared_bytes / 3);
  // No two values alive at the same time overlap.
  std::vector<int> first(g.values().size(), 0), last(g.values().size(), -1);
  for (size_t v = 0; v < g.values().size(); ++v) first[v] = std::max(0, g.values()[v].producer);
  for (int i = 0; i < static_cast<int>(g.nodes().size()); ++i)
    for (ValueId in : g.nodes()[static_cast<size_t>(i)].inputs) last[static_cast<size_t>(in)] = i;
  last[static_cast<size_t>(g.output())] = static_cast<int>(g.nodes().size());
  for (size_t a = 0; a < g.values().size(); ++a)
    for (size_t c = a + 1; c < g.values().size(); ++c) {
      if (plan.offsets[a] < 0 || plan.offsets[c] < 0) continue;
      if (first[a] > last[c] || first[c] > last[a]) continue;
      const int64_t a0 = plan.offsets[a], a1 = a0 + static_cast<int64_t>(g.values()[a].desc.bytes());
      const int64_t c0 = plan.offsets[c], c1 = c0 + static_cast<int64_t>(g.values()[c].desc.bytes());
      EXPECT_TRUE(a1 <= c0 || c1 <= a0) << g.values()[a].name << " overlaps " << g.values()[c].name;
    }
}

TEST(Sampler, GreedyPicksTheLargestLogit) {
  Sampler s({.temperature = 0});
  const std::vector<float> logits{0.1f, 3.0f, -1.0f, 2.9f};
  EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, ArgmaxIsTheFirstLargest) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  // Lengths around the 16 lanes argmax compares side by side, and a vocabulary's.
  for (size_t n : {1, 2, 15, 16, 17, 31, 32, 33, 100, 151936}) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng);
    for (int trial = 0; trial < 20; ++trial) {
      // Ties of the largest at random places, some in the tail past the last 16.
      const float top = 4.0f + static_cast<float>(trial % 3);
      for (int k = 0; k < trial % 4; ++k) v[rng() % n] = top;
      if (trial % 5 == 0) v[n - 1] = top;
      const auto first = std::max_element(v.begin(), v.end()) - v.begin();
      EXPECT_EQ(argmax(v), first) << "n " << n << ", trial " << trial;
    }
  }
  EXPECT_THROW(argmax({}), Error);
}

TEST(Sampler, SameSeedSameDrawsAndTopKRestricts) {
  const std::vector<float> logits{1.0f, 1.1f, 0.9f, 1.05f, -5.0f, 0.95f};
  SamplerOptions o{.temperature = 1.5f, .top_k = 3, .top_p = 1.0f, .min_p = 0.0f, .seed = 42};
  Sampler a(o), b(o);
  std::vector<int> counts(logits.size());
  for (int i = 0; i < 400; ++i) {
    const int32_t x = a.sample(logits);
    EXPECT_EQ(x, b.sample(logits));
    ++counts[static_cast<size_t>(x)];
  }
  EXPECT_EQ(counts[2] + counts[4] + counts[5], 0);  // outside the top 3 (ids 1, 3, 0)
  for (size_t id : {0, 1, 3}) EXPECT_GT(counts[id], 50) << id;
}

TEST(Sampler, MinPAndRepetitionPenalty) {
  const std::vector<float> logits{5.0f, 4.9f, 0.0f};
  Sampler min_p({.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.5f, .seed = 1});
  for (int i = 0; i < 200; ++i) EXPECT_NE(min_p.sample(logits), 2);
  Sampler penalised({.temperature = 0, .repeat_penalty = 2.0f});
  penalised.accept(0);
  EXPECT_EQ(penalised.sample(logits), 1);  // 5.0 / 2 < 4.9
  EXPECT_THROW(Sampler({.top_p = 0.0f}), Error);
}

}  // namespace
}  // namespace isomer
