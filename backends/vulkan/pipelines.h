// Compute pipelines, built on first use from the embedded SPIR-V and cached per variant
// ("<shader>" or "<shader>_<TYPE>"). Every shader shares one layout: kBindings storage buffers
// and kPushBytes of push constants.
#pragma once

#include <map>
#include <string>

#include "context.h"

namespace isomer::vulkan {

inline constexpr uint32_t kBindings = 5;
inline constexpr uint32_t kPushBytes = 64;

class Pipelines {
 public:
  explicit Pipelines(Context& ctx);
  ~Pipelines();
  Pipelines(const Pipelines&) = delete;
  Pipelines& operator=(const Pipelines&) = delete;

  VkPipeline get(const std::string& variant);
  static bool has(const std::string& variant);
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }

 private:
  Context& ctx_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  std::map<std::string, VkPipeline, std::less<>> cache_;
};

}  // namespace isomer::vulkan
