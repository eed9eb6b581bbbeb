#include "test_backends.h"

#include <isomer/backend.h>

namespace isomer::test {

std::vector<std::string> available_backends() {
  std::vector<std::string> names;
  for (Backend* b : backends())
    if (!b->devices().empty()) names.emplace_back(b->name());
  return names;
}

std::vector<std::string> unavailable_backends() {
  std::vector<std::string> names;
  for (Backend* b : backends())
    if (b->devices().empty()) names.emplace_back(b->name());
  return names;
}

}  // namespace isomer::test
