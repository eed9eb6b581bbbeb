// Records the dispatches of one run into a command buffer: descriptor sets, push constants,
// and a pipeline barrier before a dispatch that touches memory an earlier dispatch of the run
// wrote (or writes memory an earlier one read) since the last barrier.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "memory.h"
#include "pipelines.h"

namespace isomer::vulkan {

// Scratch buffers kept across runs: a run takes the smallest free one that is large enough (or
// allocates one, rounded up to a power of two) and gives them all back when it completes.
class ScratchPool {
 public:
  explicit ScratchPool(Context& ctx) : ctx_(ctx) {}
  DeviceBuffer& take(size_t bytes);
  void release_all();  // the run that used them has completed

 private:
  Context& ctx_;
  std::vector<std::unique_ptr<DeviceBuffer>> free_, used_;
};

struct Operand {
  uint32_t binding;
  const DeviceBuffer* buffer;
  size_t offset, bytes;
  bool written;
};

using Push = std::array<uint32_t, kPushBytes / 4>;

class Recorder {
 public:
  Recorder(Context& ctx, Pipelines& pipelines, VkCommandBuffer cmd, VkDescriptorPool pool,
           ScratchPool& scratch)
      : ctx_(ctx), pipelines_(pipelines), cmd_(cmd), pool_(pool), scratch_(scratch) {}
  // A recorder that records nothing: it lists in `wanted` the pipelines its dispatches would
  // use (what Device::prepare builds).
  Recorder(Context& ctx, Pipelines& pipelines, ScratchPool& scratch, std::vector<PipelineKey>& wanted)
      : ctx_(ctx), pipelines_(pipelines), scratch_(scratch), wanted_(&wanted) {}

  // Dispatches `variant` over groups (x, y, z). Push word i is set to operand i's byte offset
  // within its binding (bindings start at aligned offsets); `push` fills the words after them.
  // `spec` holds the specialisation constants (constant_id 0, 1, ...).
  void dispatch(const std::string& variant, std::initializer_list<Operand> operands,
                std::initializer_list<uint32_t> push, uint32_t x, uint32_t y = 1, uint32_t z = 1,
                std::initializer_list<uint32_t> spec = {});
  // Dispatches n workgroups laid out on the 2-D grid the shaders' group_index() reads.
  void dispatch_groups(const std::string& variant, std::initializer_list<Operand> operands,
                       std::initializer_list<uint32_t> push, uint64_t n, uint32_t z = 1,
                       std::initializer_list<uint32_t> spec = {});
  // Copies src's bytes to dst (a transfer, fenced by barriers on both sides).
  void copy(const Operand& src, const Operand& dst);
  // A buffer of at least `bytes` that stays the run's until it completes.
  DeviceBuffer& scratch(size_t bytes) { return scratch_.take(bytes); }
  // Makes every write of the run visible to the host.
  void finish();
  Context& context() { return ctx_; }

 private:
  struct Range {
    VkBuffer buffer;
    size_t begin, end;
  };
  void barrier_if_needed(std::initializer_list<Operand> operands);

  Context& ctx_;
  Pipelines& pipelines_;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  std::vector<Range> reads_, writes_;  // since the last barrier
  ScratchPool& scratch_;
  const DeviceBuffer* filler_ = nullptr;  // bound where a shader's binding has no operand
  std::vector<PipelineKey>* wanted_ = nullptr;  // set when recording nothing
};

}  // namespace isomer::vulkan
