#include "context.h"

#include <isomer/error.h>

namespace isomer::vulkan {
namespace {

// Longest a submission may take before it is reported as hung (seconds).
constexpr uint64_t kFenceTimeoutNs = 600ull * 1000 * 1000 * 1000;

int find_type(const VkPhysicalDeviceMemoryProperties& mem, VkMemoryPropertyFlags want) {
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i)
    if ((mem.memoryTypes[i].propertyFlags & want) == want) return static_cast<int>(i);
  return -1;
}

}  // namespace

Context::Context(const PhysicalDevice& p, bool baseline, bool texel_reads)
    : api(instance().api), phys(p), subgroups(!baseline && p.subgroup_arithmetic), texel_reads(texel_reads) {
  const float priority = 1.0f;
  auto queue_info = make<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
  queue_info.queueFamilyIndex = phys.compute_queue_family;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  auto info = make<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queue_info;
  check(api.vkCreateDevice(phys.handle, &info, nullptr, &device), "vkCreateDevice");
  api.vkGetDeviceQueue(device, phys.compute_queue_family, 0, &queue);

  auto pool_info = make<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool_info.queueFamilyIndex = phys.compute_queue_family;
  check(api.vkCreateCommandPool(device, &pool_info, nullptr, &pool), "vkCreateCommandPool");

  VkPhysicalDeviceMemoryProperties mem;
  api.vkGetPhysicalDeviceMemoryProperties(phys.handle, &mem);
  const VkMemoryPropertyFlags host =
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  mapped_type = find_type(mem, host | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  local_type = find_type(mem, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  staging_type = find_type(mem, host);
  if (staging_type < 0) fail("{}: no host-visible coherent memory type", id());
}

Context::~Context() {
  api.vkDestroyCommandPool(device, pool, nullptr);
  api.vkDestroyDevice(device, nullptr);
}

VkCommandBuffer Context::new_command_buffer() {
  auto info = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  info.commandPool = pool;
  info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  info.commandBufferCount = 1;
  VkCommandBuffer cmd;
  check(api.vkAllocateCommandBuffers(device, &info, &cmd), "vkAllocateCommandBuffers");
  return cmd;
}

VkFence Context::new_fence() {
  auto info = make<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  VkFence fence;
  check(api.vkCreateFence(device, &info, nullptr, &fence), "vkCreateFence");
  return fence;
}

void Context::submit_and_wait(VkCommandBuffer cmd, VkFence fence) {
  auto submit = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &cmd;
  check(api.vkQueueSubmit(queue, 1, &submit, fence), "vkQueueSubmit");
  wait(fence);
}

void Context::wait(VkFence fence) {
  const VkResult r = api.vkWaitForFences(device, 1, &fence, VK_TRUE, kFenceTimeoutNs);
  if (r == VK_TIMEOUT) fail("{}: the device did not finish its work in {} s", id(), kFenceTimeoutNs / 1000000000);
  check(r, "vkWaitForFences");
  check(api.vkResetFences(device, 1, &fence), "vkResetFences");
}

void Context::one_shot(const std::function<void(VkCommandBuffer)>& fn) {
  VkCommandBuffer cmd = new_command_buffer();
  VkFence fence = new_fence();
  auto begin = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  try {
    check(api.vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer");
    fn(cmd);
    check(api.vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
    submit_and_wait(cmd, fence);
  } catch (...) {
    api.vkDestroyFence(device, fence, nullptr);
    api.vkFreeCommandBuffers(device, pool, 1, &cmd);
    throw;
  }
  api.vkDestroyFence(device, fence, nullptr);
  api.vkFreeCommandBuffers(device, pool, 1, &cmd);
}

}  // namespace isomer::vulkan
