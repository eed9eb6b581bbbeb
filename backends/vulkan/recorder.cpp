#include "recorder.h"

#include <isomer/error.h>

#include <algorithm>
#include <bit>

namespace isomer::vulkan {
namespace {

constexpr uint64_t kMaxGroups = 65535;  // the guaranteed minimum of maxComputeWorkGroupCount

}  // namespace

void Recorder::barrier_if_needed(std::initializer_list<Operand> operands) {
  auto hits = [](const std::vector<Range>& ranges, const Operand& o) {
    return std::any_of(ranges.begin(), ranges.end(), [&](const Range& r) {
      return r.buffer == o.buffer->handle() && r.begin < o.offset + o.bytes && o.offset < r.end;
    });
  };
  const bool needed = std::any_of(operands.begin(), operands.end(), [&](const Operand& o) {
    return hits(writes_, o) || (o.written && hits(reads_, o));
  });
  if (needed) {
    auto barrier = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
    barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    ctx_.api.vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                  VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0, nullptr,
                                  0, nullptr);
    reads_.clear();
    writes_.clear();
  }
  for (const Operand& o : operands)
    (o.written ? writes_ : reads_).push_back({o.buffer->handle(), o.offset, o.offset + o.bytes});
}

void Recorder::dispatch(const std::string& variant, std::initializer_list<Operand> operands,
                        std::initializer_list<uint32_t> push, uint32_t x, uint32_t y, uint32_t z,
                        std::initializer_list<uint32_t> spec) {
  if (x == 0 || y == 0 || z == 0) return;
  if (wanted_) {
    wanted_->push_back({variant, spec});
    return;
  }
  const auto& api = ctx_.api;
  const VkPipeline pipeline = pipelines_.get(variant, {spec.begin(), spec.size()});
  barrier_if_needed(operands);

  VkDescriptorSetLayout layout = pipelines_.set_layout();
  auto alloc = make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
  alloc.descriptorPool = pool_;
  alloc.descriptorSetCount = 1;
  alloc.pSetLayouts = &layout;
  VkDescriptorSet set;
  check(api.vkAllocateDescriptorSets(ctx_.device, &alloc, &set), "vkAllocateDescriptorSets");

  Push words{};
  VkDescriptorBufferInfo infos[kAllBindings];
  VkBufferView views[kAllBindings];
  VkWriteDescriptorSet writes[kAllBindings];
  uint32_t n = 0;
  // Binds bytes [offset, offset + bytes) of `buffer` at `binding` from an aligned base at or
  // below offset; returns offset's distance from that base, which the shader adds.
  auto bind = [&](uint32_t binding, const DeviceBuffer& buffer, size_t offset, size_t bytes) {
    const auto& limits = ctx_.phys.limits;
    const VkDescriptorType type = descriptor_type(binding);
    writes[n] = make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[n].dstSet = set;
    writes[n].dstBinding = binding;
    writes[n].descriptorCount = 1;
    writes[n].descriptorType = type;
    VkDeviceSize base;
    if (type == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER) {
      const VkDeviceSize align = std::max<VkDeviceSize>(4, limits.minStorageBufferOffsetAlignment);
      base = offset / align * align;
      const VkDeviceSize range = std::min<VkDeviceSize>(buffer.capacity() - base, (offset - base + bytes + 3) / 4 * 4);
      if (range > limits.maxStorageBufferRange)
        fail("an operand of {} bytes exceeds the device's storage buffer range ({})", bytes,
             limits.maxStorageBufferRange);
      infos[n] = {buffer.handle(), base, range};
      writes[n].pBufferInfo = &infos[n];
    } else {
      // A view of the whole buffer where one can address it, so that a buffer needs one view
      // (they are kept with it) whatever its operands; else from a 16-byte aligned base, which
      // keeps a vec4 texel's elements where the shader expects them.
      const VkDeviceSize texel = binding == kWordTexels ? 4 : 16;
      const VkDeviceSize align = std::max<VkDeviceSize>(16, limits.minTexelBufferOffsetAlignment);
      // (Decided in words for every format, so that a buffer's views of each start alike.)
      const bool whole = buffer.capacity() / 4 <= limits.maxTexelBufferElements;
      base = whole ? 0 : offset / align * align;
      const VkDeviceSize range = whole ? buffer.capacity() / texel * texel
                                       : std::min<VkDeviceSize>((buffer.capacity() - base) / texel * texel,
                                                                (offset - base + bytes + texel - 1) / texel * texel);
      if (range / texel > limits.maxTexelBufferElements)
        fail("an operand of {} bytes exceeds the device's texel buffer range ({} texels of {} bytes)",
             bytes, limits.maxTexelBufferElements, texel);
      views[n] = buffer.texel_view(base, range, binding == kWordTexels   ? VK_FORMAT_R32_UINT
                                                : binding == kVec4Texels ? VK_FORMAT_R32G32B32A32_SFLOAT
                                                                         : VK_FORMAT_R32G32B32A32_UINT);
      writes[n].pTexelBufferView = &views[n];
    }
    ++n;
    return static_cast<uint32_t>(offset - base);
  };
  size_t i = 0;
  for (const Operand& o : operands) {
    words[i++] = bind(o.binding, *o.buffer, o.offset, o.bytes);
    // Words also as 16-byte texels: one such fetch is a few vector loads on a CPU device, where
    // a word fetch is a gather per word (dequant.glsl). Both views start at the same base.
    if (o.binding == kWordTexels && bind(kQuadTexels, *o.buffer, o.offset, o.bytes) != words[i - 1])
      fail("the 16-byte view of an operand does not start where its word view does");
  }
  // Bindings a shader declares but this op leaves unused still need a valid buffer: one small
  // buffer per run serves them all.
  for (uint32_t b = 0; b < kAllBindings; ++b) {
    if (std::any_of(operands.begin(), operands.end(), [&](const Operand& o) {
          return o.binding == b || (b == kQuadTexels && o.binding == kWordTexels);
        }))
      continue;
    if (!filler_) filler_ = &scratch(16);
    bind(b, *filler_, 0, 16);
  }
  api.vkUpdateDescriptorSets(ctx_.device, n, writes, 0, nullptr);
  std::copy(push.begin(), push.end(), words.begin() + static_cast<long>(operands.size()));

  api.vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
  api.vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipelines_.layout(), 0, 1, &set,
                              0, nullptr);
  api.vkCmdPushConstants(cmd_, pipelines_.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes,
                         words.data());
  api.vkCmdDispatch(cmd_, x, y, z);
}

void Recorder::dispatch_groups(const std::string& variant, std::initializer_list<Operand> operands,
                               std::initializer_list<uint32_t> push, uint64_t n, uint32_t z,
                               std::initializer_list<uint32_t> spec) {
  if (n > kMaxGroups * kMaxGroups) fail("{} needs {} workgroups, more than a dispatch allows", variant, n);
  dispatch(variant, operands, push, static_cast<uint32_t>(std::min(n, kMaxGroups)),
           static_cast<uint32_t>((n + kMaxGroups - 1) / kMaxGroups), z, spec);
}

void Recorder::copy(const Operand& src, const Operand& dst) {
  if (wanted_) return;
  // Copies are rare (the copy op, not the executor's transfers between devices), so a full
  // barrier on each side is simpler than tracking transfer accesses.
  auto barrier = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                          VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  ctx_.api.vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &barrier, 0, nullptr, 0, nullptr);
  VkBufferCopy region{src.offset, dst.offset, std::min(src.bytes, dst.bytes)};
  ctx_.api.vkCmdCopyBuffer(cmd_, src.buffer->handle(), dst.buffer->handle(), 1, &region);
  ctx_.api.vkCmdPipelineBarrier(cmd_, stages, stages, 0, 1, &barrier, 0, nullptr, 0, nullptr);
  reads_.clear();
  writes_.clear();
}

DeviceBuffer& ScratchPool::take(size_t bytes) {
  auto best = free_.end();
  for (auto it = free_.begin(); it != free_.end(); ++it)
    if ((*it)->size() >= bytes && (best == free_.end() || (*it)->size() < (*best)->size())) best = it;
  if (best == free_.end()) {
    used_.push_back(std::make_unique<DeviceBuffer>(ctx_, std::bit_ceil(std::max<size_t>(bytes, 256))));
  } else {
    used_.push_back(std::move(*best));
    free_.erase(best);
  }
  return *used_.back();
}

void ScratchPool::release_all() {
  for (auto& b : used_) free_.push_back(std::move(b));
  used_.clear();
}

void Recorder::finish() {
  if (wanted_) return;
  auto barrier = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;
  ctx_.api.vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                                &barrier, 0, nullptr, 0, nullptr);
}

}  // namespace isomer::vulkan
