// The SPIR-V modules embedded at build time (see CMakeLists.txt): one per (shader, type)
// variant, named "<shader>" or "<shader>_<TYPE>", e.g. "mul_mat_Q4_K".
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace isomer::vulkan {

struct Shader {
  std::string_view name;
  std::span<const uint32_t> code;
};

std::span<const Shader> shaders();

// isomer::Error naming the shader unless `code` is a SPIR-V module a Vulkan 1.2 device takes
// (magic number, version at most 1.5, a header): drivers do not validate what they are given,
// so a corrupt or mismatched module would otherwise be undefined behaviour, not an error.
void check_spirv(const Shader& shader);

}  // namespace isomer::vulkan
