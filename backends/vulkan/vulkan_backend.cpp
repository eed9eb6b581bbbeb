// The Vulkan backend: devices from the process-wide instance (best first), and a Device that
// records each run's steps into one command buffer, submits it, and waits on a fence in
// synchronize().
#include "vulkan_backend.h"

#include <isomer/error.h>

#include "ops.h"

namespace isomer::vulkan {
namespace {

class VulkanDevice final : public Device {
 public:
  explicit VulkanDevice(const PhysicalDevice& phys)
      : ctx_(phys), pipelines_(ctx_), cmd_(ctx_.new_command_buffer()), fence_(ctx_.new_fence()) {}
  ~VulkanDevice() override {
    try {
      finish();
    } catch (const Error&) {
      // A lost device while closing: nothing left to report it to.
    }
    ctx_.api.vkDestroyFence(ctx_.device, fence_, nullptr);
  }

  const DeviceProperties& properties() const override { return ctx_.phys.properties; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    return std::make_unique<DeviceBuffer>(ctx_, bytes);
  }
  Support supports(const Op& op, std::span<const TensorDesc> inputs,
                   const TensorDesc& output) const override {
    return supports_op(op, inputs, output);
  }
  void run(std::span<const Step> steps) override {
    finish();
    const auto& api = ctx_.api;
    const uint32_t sets = static_cast<uint32_t>(std::max<size_t>(1, steps.size()));
    const VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, sets * kBindings};
    auto pool_info = make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
    pool_info.maxSets = sets;
    pool_info.poolSizeCount = 1;
    pool_info.pPoolSizes = &size;
    check(api.vkCreateDescriptorPool(ctx_.device, &pool_info, nullptr, &descriptors_),
          "vkCreateDescriptorPool");
    check(api.vkResetCommandBuffer(cmd_, 0), "vkResetCommandBuffer");
    auto begin = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(api.vkBeginCommandBuffer(cmd_, &begin), "vkBeginCommandBuffer");
    Recorder rec(ctx_, pipelines_, cmd_, descriptors_);
    for (const Step& s : steps) {
      try {
        record_step(rec, s);
      } catch (const Error& e) {
        scratch_ = rec.take_scratch();
        fail("{} at node {}: {}", ctx_.id(), s.label, e.what());
      }
    }
    rec.finish();
    scratch_ = rec.take_scratch();
    check(api.vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
    auto submit = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &cmd_;
    check(api.vkQueueSubmit(ctx_.queue, 1, &submit, fence_), "vkQueueSubmit");
    in_flight_ = true;
  }
  void synchronize() override { finish(); }

 private:
  // Waits for the submitted run, then frees what it used.
  void finish() {
    if (in_flight_) {
      in_flight_ = false;
      ctx_.wait(fence_);
    }
    scratch_.clear();
    if (descriptors_) ctx_.api.vkDestroyDescriptorPool(ctx_.device, descriptors_, nullptr);
    descriptors_ = VK_NULL_HANDLE;
  }

  Context ctx_;
  Pipelines pipelines_;
  VkCommandBuffer cmd_;
  VkFence fence_;
  VkDescriptorPool descriptors_ = VK_NULL_HANDLE;
  std::vector<std::unique_ptr<DeviceBuffer>> scratch_;  // alive until the run completes
  bool in_flight_ = false;
};

class VulkanBackend final : public Backend {
 public:
  std::string_view name() const override { return "vulkan"; }
  std::vector<DeviceProperties> devices() override {
    std::vector<DeviceProperties> out;
    for (const auto& d : instance().devices) out.push_back(d.properties);
    return out;
  }
  std::string unavailable_reason() override { return instance().unavailable; }
  std::unique_ptr<Device> open(int index, const DeviceOptions&) override {
    const auto& devices = instance().devices;
    if (devices.empty()) fail("backend vulkan is unavailable: {}", instance().unavailable);
    if (index < 0 || static_cast<size_t>(index) >= devices.size())
      fail("backend vulkan: no device {} (there are {}: vulkan:0 to vulkan:{})", index,
           devices.size(), devices.size() - 1);
    return std::make_unique<VulkanDevice>(devices[static_cast<size_t>(index)]);
  }
};

}  // namespace

Backend& backend() {
  static VulkanBackend instance;
  return instance;
}

}  // namespace isomer::vulkan
