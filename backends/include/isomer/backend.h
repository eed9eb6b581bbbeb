// The one interface every backend implements: a Backend lists Devices; a Device allocates
// Buffers, copies between them, says whether it runs an op (and if not, why), runs a
// subgraph and synchronises. Adding a built-in backend means a folder under backends/ plus one
// line in backends/registry.cpp; a backend module (backends/cuda, backends/hip) is a shared
// object found at run time instead (isomer/backend_module.h).
#pragma once

#include <isomer/ops/op.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace isomer {

class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual size_t size() const = 0;
  virtual void write(size_t offset, const void* src, size_t bytes) = 0;
  virtual void read(size_t offset, void* dst, size_t bytes) const = 0;
  // Host address of the buffer's first byte when the CPU can address it directly, else null.
  virtual void* host_data() const { return nullptr; }
};

// Answer of Device::supports: yes, or no with the reason (shown to users on fallback).
struct Support {
  bool ok = true;
  std::string reason;
  static Support yes() { return {}; }
  static Support no(std::string why) { return {false, std::move(why)}; }
  explicit operator bool() const { return ok; }
};

struct DeviceProperties {
  std::string id;      // "cpu:0", "vulkan:1"
  std::string name;    // what the driver calls it
  std::string vendor;
  std::string driver;
  uint64_t memory_bytes = 0;
  uint32_t compute_units = 0;  // cores, SMs, CUs
  std::vector<std::pair<std::string, std::string>> extra;  // backend-specific facts
};

// Where a tensor lives: a buffer of the running device and an offset into it.
struct TensorBinding {
  TensorDesc desc;
  Buffer* buffer = nullptr;
  size_t offset = 0;
};

// One op of a subgraph, with its operands bound to memory.
struct Step {
  const Op* op = nullptr;
  std::vector<TensorBinding> inputs;
  TensorBinding output;
  std::string_view label;  // the node's name, for error messages
};

// Which kernels a backend uses where it has a choice: its own portable ones, or the vendor's
// library for matrix products where that library is present (cuBLAS / hipBLAS on the GPU
// backends, oneDNN on the CPU when built with it). Vulkan has no vendor path and ignores it.
enum class KernelChoice { Portable, Vendor };

// For backends that take RoPE's cos/sin as a table: writes `table` (rows x n_rot floats) from
// the positions (and frequency factors) the rope step's inputs hold, by the reference's
// rope_angles, so that every backend agrees with the CPU backend and llama.cpp exactly.
void rope_table(const Step& rope, float* table);

struct DeviceOptions {
  int threads = 0;  // CPU worker threads; 0 = all cores
  KernelChoice kernels = KernelChoice::Portable;  // CPU, CUDA, HIP; Vulkan ignores it
  // Leave the device's optional features unused (Vulkan: subgroup operations) and run the
  // fallback paths that every device has: how tests cover them on a device with the features.
  bool baseline = false;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const DeviceProperties& properties() const = 0;
  virtual std::unique_ptr<Buffer> allocate(size_t bytes) = 0;
  // Zero-copy buffer over host memory that outlives it (a mapped model file); null when the
  // device cannot use host memory directly, in which case the caller uploads.
  virtual std::unique_ptr<Buffer> wrap_host(const void* data, size_t bytes) { return nullptr; }
  virtual Support supports(const Op& op, std::span<const TensorDesc> inputs,
                           const TensorDesc& output) const = 0;
  // Runs the steps in order; may return before they finish (see synchronize).
  virtual void run(std::span<const Step> steps) = 0;
  virtual void synchronize() = 0;
  // Readies what a first run of such steps would set up, without running them (Vulkan: builds
  // their pipelines, several at once), so that the first prompt and token do not pay for it.
  // The steps' buffers need not hold data yet.
  virtual void prepare(std::span<const Step> steps) {}
  // Counts of the device's one-off work, by name (Vulkan: pipelines built in prepare and in
  // runs), for tests and reports that ask where it happened.
  virtual std::vector<std::pair<std::string, int64_t>> counters() const { return {}; }
  // Copies between two buffers of this device.
  virtual void copy(const Buffer& src, size_t src_offset, Buffer& dst, size_t dst_offset,
                    size_t bytes);
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;  // "cpu", "vulkan", "cuda", "hip"
  // Devices present; empty when the backend is unavailable.
  virtual std::vector<DeviceProperties> devices() = 0;
  // Why the backend has no devices here ("" when it has some).
  virtual std::string unavailable_reason() { return ""; }
  // Opens device `index`; isomer::Error naming the backend when it is out of range or fails.
  virtual std::unique_ptr<Device> open(int index, const DeviceOptions& options) = 0;
};

// Every backend compiled into this build, in registry order (cpu first), then the backend
// modules found at run time (isomer/backend_module.h; cuda and hip are listed, as unavailable
// with the reason, when their module is missing or fails to load), then those added with
// add_backend.
std::span<Backend* const> backends();
// Registers a backend defined outside this library (a plugin, a test double); it must outlive
// every use. isomer::Error if its name is taken.
void add_backend(Backend& backend);
// The backend called `name`; isomer::Error listing the known ones when there is none.
Backend& backend(std::string_view name);

}  // namespace isomer
