// Synthetic models (`isomer synth`): they load and run, are reproducible bit for bit, carry a
// working tokenizer, follow llama.cpp's type choices, and every like has the shapes the
// runtime checks at load.
#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/model.h>
#include <isomer/synth.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <unistd.h>

#include "test_data.h"

namespace isomer {
namespace {

namespace fs = std::filesystem;

using test::read_bytes;
using test::temp_path;

std::string synth_file(const std::string& name, synth::Options o) {
  const std::string path = temp_path(name + ".gguf").string();
  synth::synthesize(o, path);
  return path;
}

synth::Options like(const std::string& name, const std::string& type = "", int n_layer = 0) {
  synth::Options o;
  o.like = name;
  o.type = type;
  o.n_layer = n_layer;
  return o;
}

const synth::TensorPlan& find(const synth::Plan& p, const std::string& name) {
  for (const auto& t : p.tensors)
    if (t.name == name) return t;
  throw Error("no tensor " + name);
}

const gguf::Value& meta(const synth::Plan& p, const std::string& key) {
  for (const auto& [k, v] : p.metadata)
    if (k == key) return v;
  throw Error("no metadata " + key);
}

void expect_finite_and_varied(std::span<const float> logits) {
  double sum = 0, sq = 0;
  for (float v : logits) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sq += double{v} * v;
  }
  const double mean = sum / logits.size();
  EXPECT_GT(sq / logits.size() - mean * mean, 0.01);  // not a flat distribution
}

TEST(Synth, TinyLoadsAndRuns) {
  const auto model = Model::load(synth_file("tiny", like("tiny")));
  const ModelConfig& c = model->config();
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_vocab, 1024);
  Context ctx(*model);
  const auto prompt = model->tokenizer().encode("Once upon a time, in a small town", true, true);
  EXPECT_EQ(prompt.front(), model->tokenizer().bos());
  auto logits = ctx.eval(prompt);
  ASSERT_EQ(logits.size(), 1024u);
  expect_finite_and_varied(logits);
  for (int i = 0; i < 16; ++i) {  // a few decode steps
    const int32_t next = static_cast<int32_t>(
        std::max_element(logits.begin(), logits.end()) - logits.begin());
    logits = ctx.eval({&next, 1});
    expect_finite_and_varied(logits);
  }
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes) {
  synth::Options a = like("tiny", "q8_0"), b = a, c = a;
  a.seed = b.seed = 7;
  a.threads = 1;  // the thread count must not matter
  b.threads = 3;
  c.seed = 8;
  const std::string fa = read_bytes(synth_file("seed-a", a));
  EXPECT_EQ(fa, read_bytes(synth_file("seed-b", b)));
  EXPECT_NE(fa, read_bytes(synth_file("seed-c", c)));
}

// The generator uses only IEEE basic operations, so these bytes are the same on every
// platform and compiler. If synthesis changes on purpose, update the value and bump the
// default model's file name (default-tiny-vN.gguf in synth.cpp) so stale caches are not used.
TEST(Synth, TinyBytesAreStable) {
  const std::string bytes = read_bytes(synth_file("stable", like("tiny")));
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char ch : bytes) h = (h ^ ch) * 0x100000001B3ull;
  EXPECT_EQ(bytes.size(), 916576u);
  EXPECT_EQ(h, 0x15AD5A6B74518CE9u) << std::hex << h;
}

// A GGUF with only the plan's metadata: enough for the tokenizer.
std::unique_ptr<gguf::File> metadata_file(const synth::Plan& p, const std::string& name) {
  gguf::Writer w;
  for (const auto& [k, v] : p.metadata) w.set(k, v);
  const std::string path = temp_path(name + "-meta.gguf").string();
  w.write(path);
  return gguf::File::open(path);
}

TEST(Synth, TokenizersRoundTripAndKnowTheirSpecialTokens) {
  const char* texts[] = {
      "The quick brown fox jumps over the lazy dog. It's 3.14159, isn't it?",
      "Größe, Straße, naïve café — 今天天气很好，我们去公园。Привет! 😀🎉",
      "def f(x):\n    return x * 2  # code\n\n\tint main() { return 0; }",
      "  several   spaces\n\n\nand a trailing one ",
  };
  struct Expect {
    std::string like, special;
    int32_t bos, eos, special_id;
    bool add_bos;
  };
  for (const Expect& e : {Expect{"tiny", "<|im_end|>", 1020, 1021, 1023, true},
                          Expect{"qwen2.5-0.5b", "<|im_end|>", 151643, 151645, 151645, false},
                          Expect{"qwen3-0.6b", "<think>", 151643, 151645, 151667, false},
                          Expect{"llama-3.2-1b", "<|eot_id|>", 128000, 128009, 128009, true},
                          Expect{"tinyllama-1.1b", "</s>", 1, 2, 2, true}}) {
    SCOPED_TRACE(e.like);
    const auto file = metadata_file(synth::plan(like(e.like)), e.like);
    const auto tok = Tokenizer::from_gguf(*file);
    EXPECT_EQ(tok->n_vocab(), file->get_strings("tokenizer.ggml.tokens")->size());
    EXPECT_EQ(tok->bos(), e.bos);
    EXPECT_EQ(tok->eos(), e.eos);
    EXPECT_EQ(tok->add_bos(), e.add_bos);
    EXPECT_TRUE(tok->is_eog(e.eos));
    for (const char* text : texts) {
      const auto ids = tok->encode(text, false, false);
      EXPECT_EQ(tok->decode(ids), text);
      EXPECT_LT(ids.size(), std::string_view(text).size());  // merges were learned and used
    }
    const auto ids = tok->encode("hi " + e.special, false, true);
    EXPECT_EQ(ids.back(), e.special_id);
  }
}

TEST(Synth, TypesFollowLlamaQuantize) {
  // Q4_K_M: Q6_K for the (tied) output and for attn_v / ffn_down in llama.cpp's
  // use_more_bits() layers; rows of 896 cannot hold 256-element blocks: Q4_K -> Q5_0,
  // Q6_K -> Q8_0.
  const auto q = synth::plan(like("qwen2.5-0.5b", "q4_k_m"));
  EXPECT_EQ(find(q, "token_embd.weight").type, DType::Q8_0);
  EXPECT_EQ(find(q, "blk.0.attn_q.weight").type, DType::Q5_0);
  EXPECT_EQ(find(q, "blk.0.attn_v.weight").type, DType::Q8_0);
  EXPECT_EQ(find(q, "blk.0.ffn_down.weight").type, DType::Q6_K);  // rows of 4864
  EXPECT_EQ(find(q, "blk.3.ffn_down.weight").type, DType::Q4_K);
  EXPECT_EQ(find(q, "blk.5.ffn_down.weight").type, DType::Q6_K);
  EXPECT_EQ(find(q, "blk.0.attn_q.bias").type, DType::F32);
  EXPECT_EQ(std::get<uint64_t>(meta(q, "general.file_type").data), 15u);

  const auto l = synth::plan(like("llama-3.2-1b", "q4_k_m"));
  EXPECT_EQ(find(l, "token_embd.weight").type, DType::Q6_K);
  EXPECT_EQ(find(l, "blk.1.attn_q.weight").type, DType::Q4_K);
  EXPECT_EQ(find(l, "blk.1.attn_v.weight").type, DType::Q6_K);  // first eighth of 16 layers
  EXPECT_EQ(find(l, "blk.2.attn_v.weight").type, DType::Q4_K);
  EXPECT_EQ(find(l, "blk.4.attn_v.weight").type, DType::Q6_K);  // every third in between

  // Q8_0: rows of 172 fall back to F16; the output stays Q8_0. Q4_0: output Q6_K, or Q8_0
  // where rows of 64 cannot hold Q6_K's blocks.
  const auto t8 = synth::plan(like("tiny", "q8_0"));
  EXPECT_EQ(find(t8, "blk.0.ffn_down.weight").type, DType::F16);
  EXPECT_EQ(find(t8, "blk.0.ffn_up.weight").type, DType::Q8_0);
  EXPECT_EQ(find(t8, "output.weight").type, DType::Q8_0);
  EXPECT_EQ(find(synth::plan(like("tiny", "q4_0")), "output.weight").type, DType::Q8_0);
  EXPECT_EQ(find(synth::plan(like("tiny", "f16")), "blk.0.attn_norm.weight").type, DType::F32);
}

TEST(Synth, LikesHaveTheRealModelsShapes) {
  struct Expect {
    std::string like;
    int64_t params;
    std::string tensor;
    std::vector<int64_t> dims;
  };
  for (const Expect& e : {
           Expect{"qwen2.5-0.5b", 494032768, "blk.23.attn_k.bias", {128}},
           Expect{"qwen3-0.6b", 596049920, "blk.27.attn_q.weight", {1024, 2048}},
           Expect{"llama-3.2-1b", 1235814432, "blk.15.ffn_down.weight", {8192, 2048}},
       }) {
    SCOPED_TRACE(e.like);
    const auto p = synth::plan(like(e.like));
    EXPECT_EQ(p.n_params, e.params);
    EXPECT_EQ(find(p, e.tensor).dims, e.dims);
    EXPECT_THROW(find(p, "output.weight"), Error);  // tied
  }
  // TinyLlama: untied, and a SentencePiece vocabulary.
  const auto tl = synth::plan(like("tinyllama-1.1b"));
  EXPECT_EQ(tl.n_params, 1100048384);
  EXPECT_EQ(find(tl, "output.weight").dims, (std::vector<int64_t>{2048, 32000}));
  EXPECT_EQ(find(tl, "blk.21.attn_k.weight").dims, (std::vector<int64_t>{2048, 256}));
  EXPECT_EQ(std::get<std::string>(meta(tl, "tokenizer.ggml.model").data), "llama");
  const auto& tokens = std::get<gguf::Value::Array>(meta(tl, "tokenizer.ggml.tokens").data);
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(std::get<std::string>(tokens[0].data), "<unk>");
  EXPECT_EQ(std::get<std::string>(tokens[3].data), "<0x00>");
  EXPECT_EQ(std::get<uint64_t>(meta(synth::plan(like("tinyllama-1.1b", "q4_k_m")),
                                    "general.file_type").data), 15u);

  const auto q3 = synth::plan(like("qwen3-0.6b"));
  EXPECT_EQ(find(q3, "blk.0.attn_k_norm.weight").dims, std::vector<int64_t>{128});
  EXPECT_EQ(std::get<uint64_t>(meta(q3, "qwen3.attention.key_length").data), 128u);
}

// rope_freqs.weight as llama.cpp's converter computes it for Llama 3.2 (factor 32, low and
// high frequency factors 1 and 4, original context 8192): high frequencies (wavelength below
// 8192 / 4) unchanged, low ones (above 8192) scaled by 32, the three in between (i = 15, 16,
// 17 for base 500000) interpolated.
void expect_llama3_rope_factors(const Model& model) {
  const auto* t = model.file().find_tensor("rope_freqs.weight");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->dims, std::vector<int64_t>{32});
  const float* f = reinterpret_cast<const float*>(t->data);
  for (int i = 0; i < 32; ++i) {
    const double wavelen = 2 * std::numbers::pi * std::pow(500000.0, 2.0 * i / 64);
    const double smooth = (8192 / wavelen - 1) / 3;
    const double want = i <= 14 ? 1.0 : i >= 18 ? 32.0 : 1 / ((1 - smooth) / 32 + smooth);
    EXPECT_NEAR(f[i], want, want * 1e-5) << i;
  }
}

// Every like, with its real tensor types but one layer, loads (Model::load builds a graph,
// checking every tensor's shape) and evaluates to finite logits.
TEST(Synth, EveryLikeLoadsAndRuns) {
  for (const auto& l : synth::likes()) {
    SCOPED_TRACE(l.name);
    const auto model = Model::load(synth_file(l.name + "-1", like(l.name, "", 1)));
    EXPECT_EQ(model->config().arch, l.arch);
    if (l.name == "llama-3.2-1b") expect_llama3_rope_factors(*model);
    Context ctx(*model, {.n_ctx = 64});
    const auto prompt = model->tokenizer().encode("Hello, world!", true, true);
    expect_finite_and_varied(ctx.eval(prompt));
    fs::remove(temp_path(l.name + "-1.gguf"));
  }
}

TEST(Synth, UnknownLikeOrTypeNamesTheChoices) {
  try {
    synth::plan(like("gpt-5"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2.5-0.5b, qwen3-0.6b, llama-3.2-1b"),
              std::string::npos) << e.what();
  }
  try {
    synth::plan(like("tiny", "q3_k"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q4_k_m"), std::string::npos) << e.what();
  }
  EXPECT_THROW(synth::plan(like("tiny", "", 3)), Error);  // more layers than the like has
}

// Runs the CLI with `env` (VAR=value ...) in front; stdout and stderr together.
std::string run_cli(const std::string& args, int& status, const std::string& env = "") {
  test::CommandResult c = test::run_command(env + test::cli_path().string() + " " + args + " 2>&1");
  status = c.status;
  return std::move(c.out);
}

TEST(Synth, CliWritesFilesAndRunUsesTheDefaultModel) {
  int status = 0;
  std::string out = run_cli("synth --list", status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("llama-3.2-1b"), std::string::npos) << out;

  const fs::path file = temp_path("cli.gguf");
  out = run_cli("synth --like tiny --type q8_0 --seed 3 -o " + file.string(), status);
  EXPECT_EQ(status, 0) << out;
  synth::Options o = like("tiny", "q8_0");
  o.seed = 3;
  EXPECT_EQ(read_bytes(file), read_bytes(synth_file("cli-lib", o)));

  out = run_cli("synth --like gpt-5 -o " + file.string(), status);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("unknown like 'gpt-5'"), std::string::npos) << out;

  // Without -m, `run` makes the default model in the cache folder once, then uses it.
  const fs::path cache = temp_path("cache");
  fs::remove_all(cache);
  for (int i = 0; i < 2; ++i) {
    out = run_cli("run -p 'Once upon a time' -n 8 --temp 0", status,
                  "ISOMER_CACHE_DIR=" + cache.string() + " ");
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out.rfind("no -m given: using the built-in default model tiny", 0), 0u) << out;
    EXPECT_NE(out.find("Once upon a time"), std::string::npos) << out;
    EXPECT_TRUE(fs::exists(cache / "default-tiny-v1.gguf"));
  }
}

}  // namespace
}  // namespace isomer
