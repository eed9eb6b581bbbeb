#include "test_data.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>

namespace isomer::test {

std::filesystem::path data_dir() {
  if (const char* env = std::getenv("ISOMER_TEST_DATA"); env && *env) return env;
  return ISOMER_DEFAULT_TEST_DATA;
}

std::filesystem::path model_path(const std::string& file) { return data_dir() / "models" / file; }

std::filesystem::path cli_path() { return ISOMER_CLI_PATH; }

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  return r;
}

}  // namespace isomer::test
