// The Vulkan backend: devices from the process-wide instance (best first), and a Device that
// records each run's steps into one command buffer, submits it, and waits on a fence in
// synchronize(). The command buffer, fence, descriptor pool and scratch buffers are the
// device's, reused from run to run.
#include "vulkan_backend.h"

#include <isomer/error.h>

#include <bit>
#include <cstdlib>
#include <string_view>

#include "ops.h"

namespace isomer::vulkan {
namespace {

constexpr size_t kMaxDispatchesPerStep = 2;  // a K-quant product: quantize_q8k, then the product

class VulkanDevice final : public Device {
 public:
  VulkanDevice(const PhysicalDevice& phys, bool baseline, bool texel_reads)
      : ctx_(phys, baseline, texel_reads), pipelines_(ctx_), cmd_(ctx_.new_command_buffer()),
        fence_(ctx_.new_fence()), scratch_(ctx_) {}
  ~VulkanDevice() override {
    try {
      finish();
    } catch (const Error&) {
      // A lost device while closing: nothing left to report it to.
    }
    if (descriptors_) ctx_.api.vkDestroyDescriptorPool(ctx_.device, descriptors_, nullptr);
    ctx_.api.vkDestroyFence(ctx_.device, fence_, nullptr);
  }

  const DeviceProperties& properties() const override { return ctx_.phys.properties; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    return std::make_unique<DeviceBuffer>(ctx_, bytes);
  }
  Support supports(const Op& op, std::span<const TensorDesc> inputs,
                   const TensorDesc& output) const override {
    return supports_op(op, inputs, output, ctx_);
  }
  void run(std::span<const Step> steps) override {
    finish();
    const auto& api = ctx_.api;
    reserve_descriptor_sets(kMaxDispatchesPerStep * steps.size());
    check(api.vkResetCommandBuffer(cmd_, 0), "vkResetCommandBuffer");
    auto begin = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(api.vkBeginCommandBuffer(cmd_, &begin), "vkBeginCommandBuffer");
    Recorder rec(ctx_, pipelines_, cmd_, descriptors_, scratch_);
    for (const Step& s : steps) record(rec, s);
    rec.finish();
    check(api.vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
    auto submit = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &cmd_;
    check(api.vkQueueSubmit(ctx_.queue, 1, &submit, fence_), "vkQueueSubmit");
    in_flight_ = true;
  }
  void synchronize() override { finish(); }
  void prepare(std::span<const Step> steps) override {
    finish();
    std::vector<PipelineKey> wanted;
    Recorder rec(ctx_, pipelines_, scratch_, wanted);
    for (const Step& s : steps) record(rec, s);
    finish();  // takes back the scratch buffers the steps would use
    const size_t before = pipelines_.size();
    pipelines_.build(wanted);
    prepared_ += pipelines_.size() - before;
  }
  std::vector<std::pair<std::string, int64_t>> counters() const override {
    return {{"pipelines built in prepare", static_cast<int64_t>(prepared_)},
            {"pipelines built in runs", static_cast<int64_t>(pipelines_.size() - prepared_)}};
  }

 private:
  void record(Recorder& rec, const Step& s) {
    try {
      record_step(rec, s);
    } catch (const Error& e) {
      finish();  // nothing was submitted: takes back what the recorded steps used
      fail("{} at node {}: {}", ctx_.id(), s.label, e.what());
    }
  }

  // Waits for the submitted run (if any), then takes back what it used.
  void finish() {
    if (in_flight_) {
      in_flight_ = false;
      ctx_.wait(fence_);
    }
    scratch_.release_all();
    if (descriptors_)
      check(ctx_.api.vkResetDescriptorPool(ctx_.device, descriptors_, 0), "vkResetDescriptorPool");
  }

  // A descriptor pool (reset, not freed, between runs) with room for `sets` sets, at least.
  void reserve_descriptor_sets(size_t sets) {
    if (descriptors_ && sets <= pool_sets_) return;
    if (descriptors_) ctx_.api.vkDestroyDescriptorPool(ctx_.device, descriptors_, nullptr);
    descriptors_ = VK_NULL_HANDLE;
    pool_sets_ = std::max<uint32_t>(256, static_cast<uint32_t>(std::bit_ceil(sets)));
    const VkDescriptorPoolSize sizes[] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, pool_sets_ * kBindings},
        {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, pool_sets_ * (kAllBindings - kBindings)}};
    auto info = make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
    info.maxSets = pool_sets_;
    info.poolSizeCount = 2;
    info.pPoolSizes = sizes;
    check(ctx_.api.vkCreateDescriptorPool(ctx_.device, &info, nullptr, &descriptors_),
          "vkCreateDescriptorPool");
  }

  Context ctx_;
  Pipelines pipelines_;
  VkCommandBuffer cmd_;
  VkFence fence_;
  VkDescriptorPool descriptors_ = VK_NULL_HANDLE;
  uint32_t pool_sets_ = 0;
  ScratchPool scratch_;
  bool in_flight_ = false;
  size_t prepared_ = 0;  // pipelines built by prepare()
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
  std::unique_ptr<Device> open(int index, const DeviceOptions& options) override {
    const auto& devices = instance().devices;
    if (devices.empty()) fail("backend vulkan is unavailable: {}", instance().unavailable);
    if (index < 0 || static_cast<size_t>(index) >= devices.size())
      fail("backend vulkan: no device {} (there are {}: vulkan:0 to vulkan:{})", index,
           devices.size(), devices.size() - 1);
    // ISOMER_VULKAN_BASELINE=1 does what options.baseline does, for a whole process.
    const char* env = std::getenv("ISOMER_VULKAN_BASELINE");
    const bool baseline = options.baseline || (env && std::string_view(env) == "1");
    const PhysicalDevice& phys = devices[static_cast<size_t>(index)];
    return std::make_unique<VulkanDevice>(phys, baseline, texel_reads(phys));
  }

 private:
  // Whether weights are read through texel buffers (see dequant.glsl): on CPU devices, where
  // that was measured faster; ISOMER_VULKAN_READS=storage|texel chooses for a whole process
  // (how tests cover both paths on one device).
  static bool texel_reads(const PhysicalDevice& phys) {
    const char* env = std::getenv("ISOMER_VULKAN_READS");
    if (!env || !*env) return phys.type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    const std::string_view v(env);
    if (v != "storage" && v != "texel")
      fail("ISOMER_VULKAN_READS={}: expected storage or texel", v);
    return v == "texel";
  }
};

}  // namespace

Backend& backend() {
  static VulkanBackend instance;
  return instance;
}

}  // namespace isomer::vulkan
