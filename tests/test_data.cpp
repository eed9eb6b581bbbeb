#include "test_data.h"

#include <cstdlib>

namespace isomer::test {

std::filesystem::path data_dir() {
  if (const char* env = std::getenv("ISOMER_TEST_DATA"); env && *env) return env;
  return ISOMER_DEFAULT_TEST_DATA;
}

std::filesystem::path model_path(const std::string& file) { return data_dir() / "models" / file; }

std::filesystem::path cli_path() { return ISOMER_CLI_PATH; }

}  // namespace isomer::test
