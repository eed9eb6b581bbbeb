// Compute pipelines, built on first use from the embedded SPIR-V and cached per variant
// ("<shader>" or "<shader>_<TYPE>") and specialisation (the values of constant_id 0, 1, ...).
// Every shader shares one layout: kBindings storage buffers and kPushBytes of push constants.
#pragma once

#include <map>
#include <span>
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

  VkPipeline get(const std::string& variant, std::span<const uint32_t> spec = {});
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
