// The Vulkan loader, opened at run time (dlopen), so that isomer runs on a machine without one;
// the instance (no window-system extensions) and the physical devices it enumerates.
#pragma once

#define VK_NO_PROTOTYPES
#include <isomer/backend.h>
#include <vulkan/vulkan.h>

#include <string>
#include <vector>

namespace isomer::vulkan {

#define ISOMER_VK_FUNCTIONS(X)                                                                   \
  X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties2)                                \
  X(vkGetPhysicalDeviceFeatures2) X(vkGetPhysicalDeviceMemoryProperties)                         \
  X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkCreateDevice) X(vkDestroyDevice)               \
  X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements)      \
  X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory)                       \
  X(vkCreateShaderModule) X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout)                \
  X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout)           \
  X(vkCreateComputePipelines) X(vkDestroyPipeline) X(vkCreateDescriptorPool)                     \
  X(vkDestroyDescriptorPool) X(vkResetDescriptorPool) X(vkAllocateDescriptorSets)                \
  X(vkUpdateDescriptorSets) X(vkCreateCommandPool) X(vkDestroyCommandPool)                       \
  X(vkAllocateCommandBuffers) X(vkFreeCommandBuffers) X(vkResetCommandBuffer) X(vkBeginCommandBuffer)                    \
  X(vkEndCommandBuffer) X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets) X(vkCmdPushConstants)    \
  X(vkCmdDispatch) X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkQueueSubmit) X(vkCreateFence)  \
  X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences) X(vkCreateBufferView) X(vkDestroyBufferView)

// Entry points, resolved through the instance.
struct Api {
#define ISOMER_VK_MEMBER(name) PFN_##name name = nullptr;
  ISOMER_VK_FUNCTIONS(ISOMER_VK_MEMBER)
#undef ISOMER_VK_MEMBER
};

struct PhysicalDevice {
  VkPhysicalDevice handle = VK_NULL_HANDLE;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  VkPhysicalDeviceLimits limits{};
  uint32_t compute_queue_family = 0;
  uint32_t subgroup_size = 0;
  bool subgroup_arithmetic = false;  // subgroupAdd & co. in compute shaders
  DeviceProperties properties;  // id "vulkan:N" in the order devices are listed (best first)
};

// The process-wide instance; created on first use and kept for the life of the process (devices
// opened from it may live in static objects, whose destruction order is unknown).
struct Instance {
  Api api;
  VkInstance handle = VK_NULL_HANDLE;
  std::vector<PhysicalDevice> devices;  // best first: discrete, integrated, virtual, CPU
  std::string unavailable;              // why there are no devices ("" when there are)
};
const Instance& instance();

// A zeroed Vulkan structure of type `s`, chained to `next`.
template <class T>
T make(VkStructureType s, void* next = nullptr) {
  T t{};
  t.sType = s;
  t.pNext = next;
  return t;
}

// Fails with the Vulkan result's name when `r` is not VK_SUCCESS.
void check(VkResult r, const char* what);
const char* result_name(VkResult r);

}  // namespace isomer::vulkan
