#include <isomer/model.h>

#include "arch/architecture.h"

namespace isomer {

void build_llama(GraphBuilder&);
void build_qwen2(GraphBuilder&);
void build_qwen3(GraphBuilder&);

namespace {
// One line per architecture.
constexpr Architecture kArchitectures[] = {
    {"llama", build_llama},
    {"qwen2", build_qwen2},
    {"qwen3", build_qwen3},
};
}  // namespace

const Architecture* find_architecture(std::string_view name) {
  for (const auto& a : kArchitectures)
    if (a.name == name) return &a;
  return nullptr;
}

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const auto& a : kArchitectures) names.emplace_back(a.name);
  return names;
}

}  // namespace isomer
