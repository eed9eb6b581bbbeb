// Compute pipelines from the embedded SPIR-V, cached per variant ("<shader>" or
// "<shader>_<TYPE>") and specialisation (the values of constant_id 0, 1, ...): built several at
// once ahead of the runs that use them (see Device::prepare), or else on first use.
// Every shader shares one layout: kBindings storage buffers, three uniform texel buffers and
// kPushBytes of push constants.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "context.h"

namespace isomer::vulkan {

inline constexpr uint32_t kBindings = 5;       // storage buffers: bindings 0 .. 4
inline constexpr uint32_t kWordTexels = 5;     // a uniform texel buffer of 32-bit words (R32_UINT)
inline constexpr uint32_t kVec4Texels = 6;     // one of float vec4s (R32G32B32A32_SFLOAT)
inline constexpr uint32_t kQuadTexels = 7;     // kWordTexels' buffer again, as uvec4s (R32G32B32A32_UINT)
inline constexpr uint32_t kAllBindings = 8;
inline constexpr uint32_t kPushBytes = 64;

inline VkDescriptorType descriptor_type(uint32_t binding) {
  return binding < kBindings ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
}

struct PipelineKey {
  std::string variant;
  std::vector<uint32_t> spec;
};

class Pipelines {
 public:
  explicit Pipelines(Context& ctx);
  ~Pipelines();
  Pipelines(const Pipelines&) = delete;
  Pipelines& operator=(const Pipelines&) = delete;

  VkPipeline get(const std::string& variant, std::span<const uint32_t> spec = {});
  // Builds those of `keys` not built yet, on several threads: drivers compile a pipeline when
  // it is created (lavapipe JITs it, GPU drivers compile it to their ISA), and nothing ties one
  // pipeline's creation to another's.
  void build(std::span<const PipelineKey> keys);
  size_t size() const { return cache_.size(); }
  static bool has(const std::string& variant);
  VkPipelineLayout layout() const { return layout_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }

 private:
  VkPipeline create(const std::string& variant, std::span<const uint32_t> spec) const;

  Context& ctx_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  std::map<std::string, VkPipeline, std::less<>> cache_;
};

}  // namespace isomer::vulkan
