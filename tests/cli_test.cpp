// The `isomer` CLI as users run it: outputs, exit codes and error messages for bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "test_data.h"

namespace isomer {
namespace {

struct Result {
  int status = -1;
  std::string out;  // stdout and stderr together
};

Result run(const std::string& args) {
  const std::string command = test::cli_path().string() + " " + args + " 2>&1";
  const test::CommandResult c = test::run_command(command);
  return {c.status, c.out};
}

std::string stories() { return test::model_path("stories260K.gguf").string(); }

TEST(Cli, HelpForEverySubcommand) {
  for (const char* sub : {"run", "logits", "inspect", "devices", "synth", "quantize", "bench", "compare"}) {
    const Result r = run(std::string(sub) + " --help");
    EXPECT_EQ(r.status, 0) << sub << ": " << r.out;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub;
  }
}

TEST(Cli, GreedyRunReproducesLlamaCppText) {
  const Result r = run("run -m " + stories() + " -p 'Once upon a time' -n 32 --temp 0 -t 2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.rfind("Once upon a time, there was a little girl named Lily. She loved to play "
                        "outside in the park.", 0),
            0u) << r.out;
  EXPECT_NE(r.out.find("prompt:"), std::string::npos);
  EXPECT_NE(r.out.find("generation:"), std::string::npos);
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos);
}

TEST(Cli, LogitsJsonHasTheReferenceShape) {
  const Result r = run("logits -m " + stories() + " --tokens 1,403,407 --top 4 --json 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prompt_tokens"], nlohmann::json::array({1, 403, 407}));
  ASSERT_EQ(j["positions"].size(), 3u);
  EXPECT_EQ(j["positions"][0]["top"].size(), 4u);
  // llama.cpp's first position for this model (../shared/reference/stories260K.story.json).
  std::ifstream in(test::data_dir() / "reference" / "stories260K.story.json");
  const auto ref = nlohmann::json::parse(in);
  EXPECT_NEAR(j["positions"][0]["lse"].get<double>(), ref["positions"][0]["lse"].get<double>(), 1e-3);
  EXPECT_EQ(j["positions"][0]["top"][0][0], ref["positions"][0]["top"][0][0]);
}

TEST(Cli, InspectListsTensorsAndTotals) {
  const Result r = run("inspect " + stories());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("general.architecture"), std::string::npos);
  EXPECT_NE(r.out.find("token_embd.weight"), std::string::npos);
  EXPECT_NE(r.out.find("[64, 512]"), std::string::npos);
  EXPECT_NE(r.out.find("totals:"), std::string::npos);
}

TEST(Cli, DevicesListsTheCpu) {
  const Result r = run("devices");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("cpu:0"), std::string::npos) << r.out;
}

// ISOMER_CPU_ISA caps the kernels' instruction set (tests run the portable path so); the CPU
// row says which set runs and why, and a set isomer has no kernels for is an error naming it.
TEST(Cli, CpuInstructionSetCapIsShownAndChecked) {
  const Result r = run("devices");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("simd: "), std::string::npos) << r.out;
  const test::CommandResult capped = test::run_command("ISOMER_CPU_ISA=portable " + test::cli_path().string() + " devices 2>&1");
  ASSERT_EQ(capped.status, 0) << capped.out;
  EXPECT_NE(capped.out.find("simd: portable"), std::string::npos) << capped.out;
  const test::CommandResult bad = test::run_command("ISOMER_CPU_ISA=avx9000 " + test::cli_path().string() +
                                                    " run -m " + stories() + " -p hi -n 1 2>&1");
  EXPECT_NE(bad.status, 0) << bad.out;
  EXPECT_NE(bad.out.find("ISOMER_CPU_ISA=avx9000"), std::string::npos) << bad.out;
}

TEST(Cli, BadInputIsAClearErrorNotACrash) {
  struct Bad {
    std::string args, message;
  };
  const std::string truncated =
      (std::filesystem::temp_directory_path() / "isomer-cli-truncated.gguf").string();
  {
    std::ifstream in(stories(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), 100000);
  }
  const std::string long_prompt(400, 'x');
  const Bad cases[] = {
      {"run -m /nonexistent/model.gguf -p hi", "/nonexistent/model.gguf"},
      {"run -m " + truncated + " -p hi", truncated},
      {"run -m " + stories() + " -p hi --backend tpu", "unknown backend 'tpu'"},
      {"run -m " + stories() + " -p hi --device cpu:x", "must be a number"},
      {"run -m " + stories() + " -p hi --device cpu:3", "no device 3"},
      {"run -m " + stories() + " --ctx 16 -n 8 -p '" + long_prompt + "'", "exceeds the context"},
      {"run -m " + stories() + " -p hi -t -2", "-t"},
      {"run -m " + stories() + " -p hi --ctx 9000000000000", "exceeds the largest supported"},
      {"run -m " + stories() + " -p hi --kv-type q4_0", "KV cache type Q4_0 is not supported"},
      {"run -m " + stories() + " -p hi --bogus", "bogus"},
      {"logits -m " + stories(), "--prompt TEXT or --tokens"},
      {"logits -m " + stories() + " --tokens 1,99999", "outside the vocabulary"},
      {"inspect /nonexistent.gguf", "/nonexistent.gguf"},
      {"frobnicate", "subcommand"},
  };
  for (const auto& c : cases) {
    const Result r = run(c.args);
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_LT(r.status, 128) << "crashed: " << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.args << "\n" << r.out;
  }
}

}  // namespace
}  // namespace isomer
