// Device buffers. Where the device has device-local host-visible memory the buffer is mapped
// and read/written directly; otherwise it lives in device-local memory and reads/writes go
// through a staging buffer and a copy on the queue.
#pragma once

#include <algorithm>
#include <map>
#include <tuple>

#include "context.h"

namespace isomer::vulkan {

class DeviceBuffer final : public Buffer {
 public:
  enum class Kind { Device, Staging };
  DeviceBuffer(Context& ctx, size_t bytes, Kind kind = Kind::Device);
  ~DeviceBuffer() override;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  size_t size() const override { return size_; }
  void write(size_t offset, const void* src, size_t bytes) override;
  void read(size_t offset, void* dst, size_t bytes) const override;
  VkBuffer handle() const { return buffer_; }
  // Bytes of the Vulkan buffer: size() rounded up to whole 16-byte texels, at least one.
  size_t capacity() const { return std::max<size_t>(16, (size_ + 15) / 16 * 16); }
  // A view of bytes [base, base + range) as texels of `format` (made once, kept with the buffer).
  VkBufferView texel_view(size_t base, size_t range, VkFormat format) const;

 private:
  bool allocate(int type);
  void check_range(size_t offset, size_t bytes) const;

  Context& ctx_;
  size_t size_ = 0;
  Kind kind_ = Kind::Device;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  uint8_t* mapped_ = nullptr;
  mutable std::map<std::tuple<size_t, size_t, VkFormat>, VkBufferView> views_;
};

}  // namespace isomer::vulkan
