// `isomer quantize` and the type choices it shares with `isomer synth`: llama-quantize's
// per-tensor rules, byte-identical output to synth's direct quantisation, requantisation
// refused unless allowed, and clear errors.
#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/model.h>
#include <isomer/quantize.h>
#include <isomer/synth.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "test_data.h"

namespace isomer {
namespace {

namespace fs = std::filesystem;
using quantize::choose;
using quantize::find_file_type;

using test::read_bytes;
using test::temp_path;

std::string synth_file(const std::string& name, const std::string& type, uint64_t seed = 5) {
  synth::Options o;
  o.like = "tiny";
  o.type = type;
  o.seed = seed;
  const std::string path = temp_path(name + ".gguf").string();
  synth::synthesize(o, path);
  return path;
}

DType pick(std::string_view type, std::string_view name, std::vector<int64_t> dims,
           const quantize::ModelInfo& m, DType current = DType::F32) {
  return choose(find_file_type(type), name, dims, current, m).type;
}

// TinyLlama 1.1B (22 layers, d 2048, ffn 5632, untied): the types llama-quantize gives it.
TEST(Quantize, MixFollowsLlamaQuantizeForTinyLlama) {
  const quantize::ModelInfo m{.n_layer = 22, .has_output = true};
  const std::vector<int64_t> embd{2048, 32000}, q{2048, 2048}, v{2048, 256}, down{5632, 2048};
  // use_more_bits(i, 22): i < 2, i >= 19, (i - 2) % 3 == 2.
  const std::set<int> more{0, 1, 4, 7, 10, 13, 16, 19, 20, 21};
  for (const char* t : {"q4_k_m", "Q5_K_M"}) {
    SCOPED_TRACE(t);
    const DType base = find_file_type(t).base;
    EXPECT_EQ(pick(t, "token_embd.weight", embd, m), base);
    EXPECT_EQ(pick(t, "output.weight", embd, m), DType::Q6_K);
    for (int i = 0; i < 22; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      const DType want = more.contains(i) ? DType::Q6_K : base;
      EXPECT_EQ(pick(t, p + "attn_v.weight", v, m), want) << i;
      EXPECT_EQ(pick(t, p + "ffn_down.weight", down, m), want) << i;
      EXPECT_EQ(pick(t, p + "attn_q.weight", q, m), base) << i;
      EXPECT_EQ(pick(t, p + "ffn_up.weight", {2048, 5632}, m), base) << i;
      EXPECT_EQ(pick(t, p + "attn_norm.weight", {2048}, m), DType::F32);
    }
  }
  // Plain types: the output matrix gets Q6_K unless the file is Q8_0; no layer mix.
  EXPECT_EQ(pick("q4_0", "output.weight", embd, m), DType::Q6_K);
  EXPECT_EQ(pick("q4_0", "token_embd.weight", embd, m), DType::Q4_0);
  EXPECT_EQ(pick("q4_0", "blk.0.attn_v.weight", v, m), DType::Q4_0);
  EXPECT_EQ(pick("q5_1", "blk.0.ffn_down.weight", down, m), DType::Q5_1);
  EXPECT_EQ(pick("q8_0", "output.weight", embd, m), DType::Q8_0);
  EXPECT_EQ(pick("q6_k", "blk.0.attn_q.weight", q, m), DType::Q6_K);
  // F16 / BF16 / F32 files: every converted matrix, the output included, gets the type.
  EXPECT_EQ(pick("f16", "output.weight", embd, m), DType::F16);
  EXPECT_EQ(pick("bf16", "blk.0.ffn_down.weight", down, m), DType::BF16);
  EXPECT_EQ(pick("f32", "blk.0.attn_q.weight", q, m, DType::F16), DType::F32);
}

// Qwen2.5-0.5B (24 layers, d 896, tied, QKV biases): rows of 896 hold no 256-element blocks.
TEST(Quantize, MixFallsBackAsLlamaQuantizeDoes) {
  const quantize::ModelInfo m{.n_layer = 24, .has_output = false};
  const std::vector<int64_t> embd{896, 151936}, q{896, 896}, v{896, 128}, down{4864, 896};
  const auto qkm = find_file_type("q4_k_m");
  // Tied: token_embd is the output matrix; its Q6_K needs 256-element rows: Q8_0.
  EXPECT_EQ(pick("q4_k_m", "token_embd.weight", embd, m), DType::Q8_0);
  const auto c = choose(qkm, "blk.1.attn_q.weight", q, DType::F32, m);
  EXPECT_EQ(c.type, DType::Q5_0);
  EXPECT_NE(c.fallback.find("rows of 896"), std::string::npos) << c.fallback;
  EXPECT_FALSE(c.llama_cpp_refuses);
  EXPECT_EQ(pick("q4_k_m", "blk.0.attn_v.weight", v, m), DType::Q8_0);   // Q6_K -> Q8_0
  EXPECT_EQ(pick("q4_k_m", "blk.0.ffn_down.weight", down, m), DType::Q6_K);  // rows of 4864
  EXPECT_EQ(pick("q4_k_m", "blk.3.ffn_down.weight", down, m), DType::Q4_K);
  EXPECT_EQ(pick("q5_k_m", "blk.1.attn_q.weight", q, m), DType::Q5_1);
  EXPECT_EQ(pick("q6_k", "blk.1.attn_q.weight", q, m), DType::Q8_0);
  EXPECT_EQ(pick("q4_0", "token_embd.weight", embd, m), DType::Q8_0);  // Q6_K -> Q8_0
  // Biases and norms are never converted: they keep whatever type they have.
  EXPECT_EQ(pick("q4_k_m", "blk.0.attn_q.bias", {896}, m), DType::F32);
  EXPECT_EQ(pick("q8_0", "blk.0.attn_q.bias", {896}, m, DType::F16), DType::F16);
  EXPECT_EQ(pick("q8_0", "blk.0.attn_norm.weight", {896}, m, DType::BF16), DType::BF16);
  // A non-K type whose blocks do not fit: llama-quantize stops; isomer keeps F16.
  const auto odd = choose(find_file_type("q8_0"), "blk.0.ffn_down.weight",
                          std::vector<int64_t>{172, 64}, DType::F32, m);
  EXPECT_EQ(odd.type, DType::F16);
  EXPECT_TRUE(odd.llama_cpp_refuses);
  EXPECT_TRUE(quantize::converts("blk.0.ffn_down.weight", 2));
  EXPECT_FALSE(quantize::converts("blk.0.attn_q_norm.weight", 2));
  EXPECT_FALSE(quantize::converts("rope_freqs.weight", 1));
}

// Quantising synth's F32 model gives exactly the bytes synth writes for that type directly:
// the same choices, the same quantisers, the same metadata.
TEST(Quantize, FromF32SynthEqualsSynthType) {
  const std::string f32 = synth_file("f32", "f32");
  for (const auto& type : quantize::file_type_names()) {
    SCOPED_TRACE(type);
    const std::string out = temp_path("q-" + type + ".gguf").string();
    quantize::quantize_file(f32, out, {.type = type, .threads = 2});
    EXPECT_EQ(read_bytes(out), read_bytes(synth_file("s-" + type, type))) << type;
  }
}

TEST(Quantize, OutputLoadsAndRuns) {
  const std::string f32 = synth_file("run-f32", "f32");
  for (const char* type : {"Q4_K_M", "Q8_0", "Q4_0", "BF16"}) {
    SCOPED_TRACE(type);
    const std::string out = temp_path(std::string("run-") + type + ".gguf").string();
    const auto report = quantize::quantize_file(f32, out, {.type = type});
    const auto model = Model::load(out);
    EXPECT_EQ(model->file().get_int("general.file_type"), report.type.ftype);
    EXPECT_EQ(model->file().get_int("general.quantization_version"), 2);
    EXPECT_EQ(model->file().metadata().size(), gguf::File::open(f32)->metadata().size());
    Context ctx(*model, {.n_ctx = 32});
    const auto logits = ctx.eval(model->tokenizer().encode("Hello there", true, true));
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(Quantize, RequantizingIsRefusedUnlessAllowed) {
  const std::string q8 = synth_file("q8", "q8_0");
  try {
    quantize::plan_file(q8, {.type = "q4_0"});
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("already Q8_0"), std::string::npos) << m;
    EXPECT_NE(m.find("--allow-requantize"), std::string::npos) << m;
  }
  // Same type: nothing is requantised, every tensor is copied.
  const std::string same = temp_path("same.gguf").string();
  quantize::quantize_file(q8, same, {.type = "q8_0"});
  EXPECT_EQ(read_bytes(same), read_bytes(q8));
  const auto r = quantize::quantize_file(q8, temp_path("req.gguf").string(),
                                         {.type = "q4_0", .allow_requantize = true});
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings.back().find("requantizing"), std::string::npos) << r.warnings.back();
  Model::load(temp_path("req.gguf").string());
}

TEST(Quantize, BadTypeOrInputNamesTheProblem) {
  const std::string f32 = synth_file("bad-f32", "f32");
  try {
    quantize::plan_file(f32, {.type = "q3_k_s"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown weight type 'q3_k_s'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("q4_k_m"), std::string::npos);
  }
  EXPECT_THROW(quantize::plan_file("/nonexistent/in.gguf", {.type = "q8_0"}), Error);
  const fs::path junk = temp_path("junk.gguf");
  std::ofstream(junk) << "this is not a GGUF file at all, just text";
  EXPECT_THROW(quantize::plan_file(junk.string(), {.type = "q8_0"}), Error);
  gguf::Writer w;  // a GGUF, but not a model
  w.set("general.name", gguf::Value::string("x"));
  w.write(temp_path("nomodel.gguf").string());
  try {
    quantize::plan_file(temp_path("nomodel.gguf").string(), {.type = "q8_0"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a model file"), std::string::npos) << e.what();
  }
}

struct Result {
  int status = -1;
  std::string out;
};

Result cli(const std::string& args) {
  const test::CommandResult c = test::run_command(test::cli_path().string() + " " + args + " 2>&1");
  return {c.status, c.out};
}

TEST(Quantize, Cli) {
  const std::string f32 = synth_file("cli-f32", "f32");
  const std::string out = temp_path("cli-q4km.gguf").string();
  Result r = cli("quantize " + f32 + " " + out + " Q4_K_M -t 2 -v");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Q4_K - Medium"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("blk.1.ffn_down.weight"), std::string::npos) << r.out;
  EXPECT_EQ(read_bytes(out), read_bytes(synth_file("cli-s", "q4_k_m")));

  struct Bad {
    std::string args, message;
  };
  const std::string q8 = synth_file("cli-q8", "q8_0");
  for (const Bad& b : {
           Bad{"quantize " + f32 + " " + out + " Q3_K", "unknown weight type 'Q3_K'"},
           Bad{"quantize /nonexistent/x.gguf " + out + " Q8_0", "/nonexistent/x.gguf"},
           Bad{"quantize " + q8 + " " + out + " Q4_0", "--allow-requantize"},
           Bad{"quantize " + f32 + " " + f32 + " Q4_0", "another file"},
           Bad{"quantize " + f32 + " " + out, "type is required"},
       }) {
    r = cli(b.args);
    EXPECT_NE(r.status, 0) << b.args;
    EXPECT_LT(r.status, 128) << b.args << r.out;
    EXPECT_NE(r.out.find(b.message), std::string::npos) << b.args << "\n" << r.out;
  }
  r = cli("quantize " + q8 + " " + out + " Q4_0 --allow-requantize");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("warning: requantizing"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace isomer
