// The README's embedding examples (examples/generate.c, examples/generate.cpp), built with the
// tests and run on stories260K: their streamed greedy text must be llama.cpp's.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

#include "test_data.h"

namespace {

using Output = isomer::test::CommandResult;

Output run(const std::string& command, bool with_stderr = false) {
  return isomer::test::run_command(command + (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

class Example : public testing::TestWithParam<std::string> {};

TEST_P(Example, StreamsTheReferenceText) {
  std::ifstream in(isomer::test::data_dir() / "reference" / "stories260K.story.json");
  const auto ref = nlohmann::json::parse(in);
  const std::string expected = ref["prompt"].get<std::string>() + ref["greedy_text"].get<std::string>();
  const auto exe = isomer::test::cli_path().parent_path() / GetParam();
  const Output r = run(exe.string() + " " + isomer::test::model_path("stories260K.gguf").string() + " cpu '" +
                       ref["prompt"].get<std::string>() + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_FALSE(r.out.empty());
  const std::string text = r.out.substr(0, r.out.size() - 1);  // the final newline
  EXPECT_GT(text.size(), ref["prompt"].get<std::string>().size() + 80) << text;
  EXPECT_EQ(expected.substr(0, text.size()), text);
}

TEST_P(Example, ReportsABadModelPath) {
  const auto exe = isomer::test::cli_path().parent_path() / GetParam();
  const Output r = run(exe.string() + " /nonexistent.gguf");
  EXPECT_EQ(r.status, 1);
}

// `cmake --install`, then the examples built against the installed tree as an outside project
// (find_package and pkg-config), run on stories260K.
TEST(Install, ConsumerProjectsBuildAndRun) {
  std::ifstream in(isomer::test::data_dir() / "reference" / "stories260K.story.json");
  const auto ref = nlohmann::json::parse(in);
  const std::string prompt = ref["prompt"];
  setenv("ISOMER_EXPECTED", (prompt + ref["greedy_text"].get<std::string>()).c_str(), 1);
  setenv("ISOMER_PROMPT", prompt.c_str(), 1);
  const Output r = run(std::string(ISOMER_SOURCE_DIR) + "/tests/consumer/run.sh " + ISOMER_BUILD_DIR + " " +
                       ISOMER_SOURCE_DIR + " " + isomer::test::model_path("stories260K.gguf").string() +
                       " \"$ISOMER_PROMPT\" \"$ISOMER_EXPECTED\"",
                       true);
  EXPECT_EQ(r.status, 0) << r.out;
  for (const char* step : {"CMake package, C: ok", "CMake package, C++: ok", "pkg-config, C: ok", "installed CLI: ok",
                           "installed backend modules: ok"})
    EXPECT_NE(r.out.find(step), std::string::npos) << r.out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_P(Example, ReadmeShowsItVerbatim) {
  const std::string source = std::string(ISOMER_SOURCE_DIR) + "/examples/" +
                             (GetParam() == "example_generate_c" ? "generate.c" : "generate.cpp");
  const std::string file = read_file(source), readme = read_file(std::string(ISOMER_SOURCE_DIR) + "/README.md");
  ASSERT_FALSE(file.empty()) << source;
  EXPECT_NE(readme.find("\n" + file + "```\n"), std::string::npos) << source << " differs from its copy in README.md";
}

INSTANTIATE_TEST_SUITE_P(Readme, Example, testing::Values("example_generate_c", "example_generate_cpp"));

}  // namespace
