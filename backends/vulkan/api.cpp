#include "api.h"

#include <isomer/error.h>

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string_view>

namespace isomer::vulkan {
namespace {

std::string vendor_name(uint32_t id) {
  switch (id) {
    case 0x1002: return "AMD";
    case 0x10de: return "NVIDIA";
    case 0x8086: return "Intel";
    case 0x13b5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106b: return "Apple";
    case VK_VENDOR_ID_MESA: return "Mesa";
    default: return fmt::format("0x{:04x}", id);
  }
}

std::string_view type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

// Lower is better: the order `--backend vulkan` picks from.
int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

std::string version(uint32_t v) {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
                     VK_API_VERSION_PATCH(v));
}

// Describes a device; false (with `why`) when it cannot run isomer's shaders.
bool describe(const Api& api, PhysicalDevice& d, std::string& why) {
  auto driver = make<VkPhysicalDeviceDriverProperties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES);
  auto subgroup = make<VkPhysicalDeviceSubgroupProperties>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, &driver);
  auto props = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &subgroup);
  api.vkGetPhysicalDeviceProperties2(d.handle, &props);
  const auto& p = props.properties;
  if (p.apiVersion < VK_API_VERSION_1_2) {
    why = fmt::format("{} supports Vulkan {} only (isomer needs 1.2)", p.deviceName,
                      version(p.apiVersion));
    return false;
  }
  auto f12 = make<VkPhysicalDeviceVulkan12Features>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
  auto features = make<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f12);
  api.vkGetPhysicalDeviceFeatures2(d.handle, &features);

  uint32_t n = 0;
  api.vkGetPhysicalDeviceQueueFamilyProperties(d.handle, &n, nullptr);
  std::vector<VkQueueFamilyProperties> families(n);
  api.vkGetPhysicalDeviceQueueFamilyProperties(d.handle, &n, families.data());
  const auto compute = std::find_if(families.begin(), families.end(), [](const auto& f) {
    return (f.queueFlags & VK_QUEUE_COMPUTE_BIT) != 0;
  });
  if (compute == families.end()) {
    why = fmt::format("{} has no compute queue", p.deviceName);
    return false;
  }
  d.compute_queue_family = static_cast<uint32_t>(compute - families.begin());
  d.type = p.deviceType;
  d.subgroup_size = subgroup.subgroupSize;
  d.subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  d.limits = p.limits;

  VkPhysicalDeviceMemoryProperties mem;
  api.vkGetPhysicalDeviceMemoryProperties(d.handle, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      d.properties.memory_bytes += mem.memoryHeaps[i].size;

  auto& dp = d.properties;
  dp.name = p.deviceName;
  dp.vendor = vendor_name(p.vendorID);
  dp.driver = fmt::format("{} {}", driver.driverName, driver.driverInfo);
  dp.extra = {{"type", std::string(type_name(p.deviceType))},
              {"vulkan", version(p.apiVersion)},
              {"subgroup size", std::to_string(subgroup.subgroupSize)},
              {"subgroup arithmetic", d.subgroup_arithmetic ? "yes" : "no"},
              {"fp16", f12.shaderFloat16 ? "yes" : "no"},
              {"int8", f12.shaderInt8 ? "yes" : "no"}};
  return true;
}

Instance create() {
  Instance inst;
  void* lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    inst.unavailable = "no Vulkan loader found (libvulkan.so.1; install libvulkan1 and "
                       "mesa-vulkan-drivers for lavapipe)";
    return inst;
  }
  const auto get = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
  const auto create_instance =
      get ? reinterpret_cast<PFN_vkCreateInstance>(get(nullptr, "vkCreateInstance")) : nullptr;
  if (!create_instance) {
    inst.unavailable = "the Vulkan loader (libvulkan.so.1) lacks vkCreateInstance";
    return inst;
  }
  auto app = make<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
  app.pApplicationName = "isomer";
  app.apiVersion = VK_API_VERSION_1_2;
  auto info = make<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
  info.pApplicationInfo = &app;
  if (const VkResult r = create_instance(&info, nullptr, &inst.handle); r != VK_SUCCESS) {
    inst.unavailable = r == VK_ERROR_INCOMPATIBLE_DRIVER
                           ? "no Vulkan driver found (install mesa-vulkan-drivers for lavapipe)"
                           : fmt::format("vkCreateInstance failed: {}", result_name(r));
    return inst;
  }
#define ISOMER_VK_LOAD(name) \
  inst.api.name = reinterpret_cast<PFN_##name>(get(inst.handle, #name));
  ISOMER_VK_FUNCTIONS(ISOMER_VK_LOAD)
#undef ISOMER_VK_LOAD

  uint32_t n = 0;
  inst.api.vkEnumeratePhysicalDevices(inst.handle, &n, nullptr);
  std::vector<VkPhysicalDevice> handles(n);
  inst.api.vkEnumeratePhysicalDevices(inst.handle, &n, handles.data());
  handles.resize(n);
  std::vector<std::string> rejected;
  for (VkPhysicalDevice h : handles) {
    PhysicalDevice d;
    d.handle = h;
    std::string why;
    if (describe(inst.api, d, why)) inst.devices.push_back(std::move(d));
    else rejected.push_back(std::move(why));
  }
  std::stable_sort(inst.devices.begin(), inst.devices.end(),
                   [](const auto& a, const auto& b) { return type_rank(a.type) < type_rank(b.type); });
  for (size_t i = 0; i < inst.devices.size(); ++i)
    inst.devices[i].properties.id = fmt::format("vulkan:{}", i);
  if (inst.devices.empty())
    inst.unavailable = handles.empty()
                           ? "no Vulkan driver found (install mesa-vulkan-drivers for lavapipe)"
                           : fmt::format("no usable Vulkan device ({})", fmt::join(rejected, "; "));
  return inst;
}

}  // namespace

const Instance& instance() {
  static const Instance inst = create();
  return inst;
}

const char* result_name(VkResult r) {
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    default: return "VkResult error";
  }
}

void check(VkResult r, const char* what) {
  if (r != VK_SUCCESS) fail("vulkan: {} failed: {} ({})", what, result_name(r), static_cast<int>(r));
}

}  // namespace isomer::vulkan
