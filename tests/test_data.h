// Where the tests find ../shared (models, llama.cpp references, tokenizer vectors).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace isomer::test {

// $ISOMER_TEST_DATA, else the build's default (../shared beside the checkout).
std::filesystem::path data_dir();
std::filesystem::path model_path(const std::string& file);  // data_dir()/models/file
// The `isomer` CLI built with the tests.
std::filesystem::path cli_path();

struct CommandResult {
  int status = -1;  // exit code; 128 + signal when killed; -1 when it could not start
  std::string out;  // what it wrote to stdout (stderr too where the command redirects it)
};
// Runs `command` through the shell.
CommandResult run_command(const std::string& command);

// `name` in a folder of this process's own (so concurrent test runs do not share files),
// removed at exit.
std::filesystem::path temp_path(const std::string& name);
std::string read_bytes(const std::filesystem::path& path);

// Sets (or, with nullptr, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace isomer::test
