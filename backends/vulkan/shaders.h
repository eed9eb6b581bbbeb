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

}  // namespace isomer::vulkan
