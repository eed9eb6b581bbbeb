#include "memory.h"

#include <isomer/error.h>

#include <cstring>

namespace isomer::vulkan {

DeviceBuffer::DeviceBuffer(Context& ctx, size_t bytes, Kind kind) : ctx_(ctx), size_(bytes) {
  const auto& api = ctx.api;
  // Vulkan buffers cannot be empty; whole 16-byte texels, because shaders read those.
  auto info = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  info.size = capacity();
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  const uint64_t in_use = ctx.device_bytes_in_use, total = ctx.phys.properties.memory_bytes;
  if (kind == Kind::Device && (bytes > total || in_use > total - bytes))
    fail("{} ({}): out of device memory allocating {} bytes ({} of the device's {} in use)", ctx.id(),
         ctx.phys.properties.name, bytes, in_use, total);
  if (const VkResult r = api.vkCreateBuffer(ctx.device, &info, nullptr, &buffer_); r != VK_SUCCESS)
    fail("{} ({}): cannot create a buffer of {} bytes: {}", ctx.id(), ctx.phys.properties.name,
         bytes, result_name(r));
  // Mapped device-local memory first (no staging); device-local next; staging buffers are
  // host-visible.
  const bool ok = kind == Kind::Staging
                      ? allocate(ctx.staging_type)
                      : allocate(ctx.mapped_type) || allocate(ctx.local_type);
  if (!ok) {
    api.vkDestroyBuffer(ctx.device, buffer_, nullptr);
    fail("{} ({}): out of device memory allocating {} bytes", ctx.id(), ctx.phys.properties.name,
         bytes);
  }
  if (kind == Kind::Device) ctx.device_bytes_in_use += capacity();
  kind_ = kind;
}

bool DeviceBuffer::allocate(int type) {
  const auto& api = ctx_.api;
  VkMemoryRequirements req;
  api.vkGetBufferMemoryRequirements(ctx_.device, buffer_, &req);
  if (type < 0 || !(req.memoryTypeBits & (1u << type))) return false;
  auto info = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  info.allocationSize = req.size;
  info.memoryTypeIndex = static_cast<uint32_t>(type);
  if (api.vkAllocateMemory(ctx_.device, &info, nullptr, &memory_) != VK_SUCCESS) return false;
  const bool mapped = type == ctx_.mapped_type || type == ctx_.staging_type;
  if (api.vkBindBufferMemory(ctx_.device, buffer_, memory_, 0) != VK_SUCCESS ||
      (mapped && api.vkMapMemory(ctx_.device, memory_, 0, VK_WHOLE_SIZE, 0,
                                 reinterpret_cast<void**>(&mapped_)) != VK_SUCCESS)) {
    api.vkFreeMemory(ctx_.device, memory_, nullptr);
    memory_ = VK_NULL_HANDLE;
    mapped_ = nullptr;
    return false;
  }
  return true;
}

DeviceBuffer::~DeviceBuffer() {
  for (const auto& [range, view] : views_) ctx_.api.vkDestroyBufferView(ctx_.device, view, nullptr);
  if (kind_ == Kind::Device) ctx_.device_bytes_in_use -= capacity();
  ctx_.api.vkDestroyBuffer(ctx_.device, buffer_, nullptr);
  ctx_.api.vkFreeMemory(ctx_.device, memory_, nullptr);  // unmaps too
}

VkBufferView DeviceBuffer::texel_view(size_t base, size_t range, VkFormat format) const {
  if (const auto it = views_.find({base, range, format}); it != views_.end()) return it->second;
  auto info = make<VkBufferViewCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO);
  info.buffer = buffer_;
  info.format = format;
  info.offset = base;
  info.range = range;
  VkBufferView view;
  check(ctx_.api.vkCreateBufferView(ctx_.device, &info, nullptr, &view), "vkCreateBufferView");
  views_.emplace(std::tuple{base, range, format}, view);
  return view;
}

void DeviceBuffer::check_range(size_t offset, size_t bytes) const {
  if (offset > size_ || bytes > size_ - offset)
    fail("{}: access of {} bytes at {} outside a buffer of {}", ctx_.id(), bytes, offset, size_);
}

void DeviceBuffer::write(size_t offset, const void* src, size_t bytes) {
  check_range(offset, bytes);
  if (bytes == 0) return;
  if (mapped_) {
    std::memcpy(mapped_ + offset, src, bytes);
    return;
  }
  DeviceBuffer staging(ctx_, bytes, Kind::Staging);
  std::memcpy(staging.mapped_, src, bytes);
  ctx_.one_shot([&](VkCommandBuffer cmd) {
    const VkBufferCopy region{0, offset, bytes};
    ctx_.api.vkCmdCopyBuffer(cmd, staging.buffer_, buffer_, 1, &region);
  });
}

void DeviceBuffer::read(size_t offset, void* dst, size_t bytes) const {
  check_range(offset, bytes);
  if (bytes == 0) return;
  if (mapped_) {
    std::memcpy(dst, mapped_ + offset, bytes);
    return;
  }
  DeviceBuffer staging(ctx_, bytes, Kind::Staging);
  ctx_.one_shot([&](VkCommandBuffer cmd) {
    const VkBufferCopy region{offset, 0, bytes};
    ctx_.api.vkCmdCopyBuffer(cmd, buffer_, staging.buffer_, 1, &region);
    auto barrier = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
    barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    ctx_.api.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                                  0, 1, &barrier, 0, nullptr, 0, nullptr);
  });
  std::memcpy(dst, staging.mapped_, bytes);
}

}  // namespace isomer::vulkan
