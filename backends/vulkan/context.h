// An opened device: the logical device, its compute queue, a command pool and the memory types
// buffers are allocated from. Shared by buffers, pipelines and the op recorder.
#pragma once

#include <atomic>
#include <functional>

#include "api.h"

namespace isomer::vulkan {

class Context {
 public:
  // `baseline`: use none of the device's optional features (see DeviceOptions).
  Context(const PhysicalDevice& phys, bool baseline, bool texel_reads);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Api& api;
  const PhysicalDevice& phys;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  VkCommandPool pool = VK_NULL_HANDLE;
  // Memory types: device-local and host-visible + coherent when the device has it (mapped
  // directly: unified memory, lavapipe, resizable BAR), device-local, and host-visible (staging).
  int mapped_type = -1, local_type = -1, staging_type = -1;
  // Bytes of device buffers alive on this device. Checked against the device-local heaps so
  // that a driver which over-commits (lavapipe allocates host memory) still reports an
  // exhausted device instead of paging or being killed.
  std::atomic<uint64_t> device_bytes_in_use{0};
  // Shaders may reduce with subgroup arithmetic, in workgroups of subgroup_size invocations.
  bool subgroups = false;
  // Weights, and the activations of matrix-vector products, are read through uniform texel
  // buffers instead of storage buffers (see dequant.glsl).
  bool texel_reads = false;

  const std::string& id() const { return phys.properties.id; }
  VkCommandBuffer new_command_buffer();
  // Submits `cmd` and waits for it (bounded: a lost device is an error, not a hang).
  void submit_and_wait(VkCommandBuffer cmd, VkFence fence);
  void wait(VkFence fence);
  // Records `fn` into a fresh command buffer, submits it and waits.
  void one_shot(const std::function<void(VkCommandBuffer)>& fn);
  VkFence new_fence();
};

}  // namespace isomer::vulkan
