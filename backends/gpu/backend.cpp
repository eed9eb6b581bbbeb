// The GPU backend, written once for CUDA and HIP (the vendor_runtime.h on the include path
// names the runtime API): devices, buffers, and a Device that turns each run's steps into
// kernel launches on one stream. Decode steps are captured into a graph and re-launched while
// the step sequence (ops, shapes, bindings) stays the same: the values that change between
// decode steps (KV positions, the RoPE table) live in a small parameter area that the graph
// copies from pinned host memory at its start, so one graph serves every position.
#include <isomer/backend.h>
#include <isomer/backend_module.h>
#include <isomer/error.h>
#include <isomer/ops/rope.h>

#include <fmt/format.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "blas.h"
#include "kernels.h"
#include "vendor_runtime.h"

namespace isomer::gpu {
namespace {

std::string error_text(gpuError_t e) {
  return fmt::format("{} ({})", gpuGetErrorString(e), gpuGetErrorName(e));
}

[[noreturn]] void fail_gpu(gpuError_t e, std::string_view what) {
  fail("{}: {}", what, error_text(e));
}

void check(gpuError_t e, std::string_view what) {
  if (e != gpuSuccess) fail_gpu(e, what);
}

std::string gib(size_t bytes) { return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1 << 30)); }

std::string version_text(int v) {  // 12040 -> "12.4" (HIP: 50221153 -> "5.2")
  if (v <= 0) return "none";
  if (v >= 10000000) return fmt::format("{}.{}", v / 10000000, v / 100000 % 100);
  return fmt::format("{}.{}", v / 1000, v % 1000 / 10);
}

bool is_weight_type(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0:
    case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K:
    case DType::Q6_K: return true;
    default: return false;
  }
}
bool is_cache_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

int to_int(int64_t v, std::string_view what) {
  if (v < 0 || v > INT_MAX) fail("{} {} does not fit the kernels' 32-bit sizes", what, v);
  return static_cast<int>(v);
}

struct Facts {
  std::vector<DeviceProperties> devices;
  std::vector<int> warp;
  std::string unavailable;
};

// Devices, once per process. No driver, an old driver or no device: the runtime's error.
const Facts& facts() {
  static const Facts f = [] {
    Facts out;
    int count = 0;
    if (const gpuError_t e = gpuGetDeviceCount(&count); e != gpuSuccess) {
      int driver = 0, runtime = 0;
      (void)gpuDriverGetVersion(&driver);
      (void)gpuRuntimeGetVersion(&runtime);
      // An old driver: both versions say by how much; no driver at all: say that.
      const std::string versions =
          driver > 0 ? fmt::format("the driver supports {} {}, this module's runtime is {}", GPU_VENDOR_API,
                                   version_text(driver), version_text(runtime))
                     : fmt::format("no {} driver found ({}), this module's runtime is {}", GPU_VENDOR_API,
                                   GPU_DRIVER_LIBRARY, version_text(runtime));
      out.unavailable = fmt::format("{}GetDeviceCount: {}; {}", GPU_PREFIX, error_text(e), versions);
      (void)gpuGetLastError();  // clear it
      return out;
    }
    if (count == 0) {
      out.unavailable = fmt::format("{}GetDeviceCount: no {} device", GPU_PREFIX, GPU_VENDOR_API);
      return out;
    }
    int driver = 0, runtime = 0;
    (void)gpuDriverGetVersion(&driver);
    (void)gpuRuntimeGetVersion(&runtime);
    const Blas& blas = Blas::library();
    for (int i = 0; i < count; ++i) {
      gpuDeviceProp p{};
      if (const gpuError_t e = gpuGetDeviceProperties(&p, i); e != gpuSuccess) {
        out.devices.clear();
        out.unavailable = fmt::format("{}GetDeviceProperties({}): {}", GPU_PREFIX, i, error_text(e));
        return out;
      }
      DeviceProperties d;
      d.id = fmt::format("{}:{}", GPU_BACKEND_NAME, i);
      d.name = p.name;
      d.vendor = gpu_vendor_name(p);
      d.driver = fmt::format("{} driver {}, runtime {}", GPU_VENDOR_API, version_text(driver), version_text(runtime));
      d.memory_bytes = p.totalGlobalMem;
      d.compute_units = static_cast<uint32_t>(p.multiProcessorCount);
      d.extra = {{"architecture", gpu_arch_name(p)},
                 {"built for", ISOMER_GPU_ARCHS},
                 {"warp size", std::to_string(p.warpSize)},
                 {"matrix cores", has_matrix_cores() ? "used for prefill with F16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 weights (f16 operands, f32 sums)"
                                                     : "not used (f32 tiles)"},
                 {"kernels", blas.ok() ? "portable, vendor (" + blas.description() + ")"
                                       : "portable (vendor: " + blas.error() + ")"}};
      out.devices.push_back(std::move(d));
      out.warp.push_back(p.warpSize);
    }
    return out;
  }();
  return f;
}

class GpuDevice;

class GpuBuffer final : public Buffer {
 public:
  GpuBuffer(GpuDevice& dev, size_t bytes);
  ~GpuBuffer() override { (void)gpuFree(ptr_); }
  size_t size() const override { return size_; }
  void write(size_t offset, const void* src, size_t bytes) override;
  void read(size_t offset, void* dst, size_t bytes) const override;
  uint8_t* data() const { return ptr_; }
  const GpuDevice& device() const { return dev_; }

 private:
  void range(size_t offset, size_t bytes, const char* what) const {
    if (offset > size_ || bytes > size_ - offset)
      fail("{} of {} bytes at offset {} outside a buffer of {}", what, bytes, offset, size_);
  }
  GpuDevice& dev_;
  uint8_t* ptr_ = nullptr;
  size_t size_;
};

// Memory that grows and keeps its address until it grows (scratch, parameters).
struct DeviceArena {
  uint8_t* ptr = nullptr;
  size_t size = 0;
  ~DeviceArena() { (void)gpuFree(ptr); }
};
struct PinnedArena {
  uint8_t* ptr = nullptr;
  size_t size = 0;
  ~PinnedArena() { (void)gpuFreeHost(ptr); }
};

size_t align_up(size_t v, size_t a = 256) { return (v + a - 1) / a * a; }

class GpuDevice final : public Device {
 public:
  GpuDevice(int index, const DeviceOptions& options) : index_(index), props_(facts().devices[index]) {
    select();
    check(gpuStreamCreateWithFlags(&stream_, gpuStreamNonBlocking), where("creating a stream"));
    // ISOMER_GPU_KERNELS=portable|vendor overrides the option (to run a whole test suite or a
    // program with the vendor library without changing it).
    KernelChoice kernels = options.kernels;
    if (const char* k = std::getenv("ISOMER_GPU_KERNELS"); k && *k) {
      if (std::string_view(k) == "vendor") kernels = KernelChoice::Vendor;
      else if (std::string_view(k) == "portable") kernels = KernelChoice::Portable;
      else fail("ISOMER_GPU_KERNELS={}: use portable or vendor", k);
    }
    if (kernels == KernelChoice::Vendor) {
      const Blas& blas = Blas::library();
      if (!blas.ok()) {
        (void)gpuStreamDestroy(stream_);
        fail("{}: --kernels vendor is unavailable: {}", props_.id, blas.error());
      }
      blas_ = blas.create(stream_);
    }
    // Switches for measuring: ISOMER_GPU_GRAPHS=0 launches every step, ISOMER_GPU_MMA=0 keeps
    // prefill products off the matrix cores (=1 uses the matrix-core kernel even where it is
    // plain arithmetic, which tests do to check its tiling).
    if (const char* g = std::getenv("ISOMER_GPU_GRAPHS"); g && std::string_view(g) == "0") graphs_ = false;
    if (const char* g = std::getenv("ISOMER_GPU_MMA")) mma_ = std::string_view(g) == "0" ? false : std::string_view(g) == "1" ? true : mma_;
  }
  ~GpuDevice() override {
    (void)gpuSetDevice(index_);  // no throwing here
    (void)gpuStreamSynchronize(stream_);
    drop_graph();
    Blas::library().destroy(blas_);
    (void)gpuStreamDestroy(stream_);
  }

  const DeviceProperties& properties() const override { return props_; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    select();
    return std::make_unique<GpuBuffer>(*this, bytes);
  }
  Support supports(const Op& op, std::span<const TensorDesc> in, const TensorDesc& out) const override;
  void run(std::span<const Step> steps) override;
  void synchronize() override {
    select();
    check(gpuStreamSynchronize(stream_),
          where("running the submitted steps (the device may need a restart of the process)"));
  }
  void copy(const Buffer& src, size_t src_offset, Buffer& dst, size_t dst_offset, size_t bytes) override {
    const auto* s = dynamic_cast<const GpuBuffer*>(&src);
    auto* d = dynamic_cast<GpuBuffer*>(&dst);
    if (!s || !d || &s->device() != this || &d->device() != this) return Device::copy(src, src_offset, dst, dst_offset, bytes);
    select();
    check(gpuMemcpyAsync(d->data() + dst_offset, s->data() + src_offset, bytes, gpuMemcpyDeviceToDevice, stream_),
          where("copying between buffers"));
  }

  // "cuda:0: <what>" for messages.
  std::string where(std::string_view what) const { return fmt::format("{}: {}", props_.id, what); }
  void select() const { check(gpuSetDevice(index_), fmt::format("{}: {}SetDevice", props_.id, GPU_PREFIX)); }
  gpuStream_t stream() const { return stream_; }

 private:
  // One planned launch: the step, and where its scratch and parameters live.
  struct Planned {
    const Step* step;
    size_t scratch = 0;   // offset of its scratch in scratch_
    size_t param = 0;     // offset of its parameters in params_
    bool vendor = false;  // matrix product through the vendor BLAS
  };

  // What decides whether a captured graph can be re-launched: every op, its constant
  // parameters, shapes and bound addresses, as numbers (cheap to build for every step).
  using Key = std::vector<int64_t>;
  void plan(std::span<const Step> steps, std::vector<Planned>& out, Key& key, size_t& scratch, size_t& params);
  void fill_params(const std::vector<Planned>& planned);
  void enqueue(const std::vector<Planned>& planned, size_t param_bytes);
  void launch(const Planned& p);
  void drop_graph() {
    if (exec_) (void)gpuGraphExecDestroy(exec_);
    if (graph_) (void)gpuGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
    graph_key_.clear();
  }

  int index_;
  DeviceProperties props_;
  gpuStream_t stream_ = nullptr;
  void* blas_ = nullptr;
  bool graphs_ = true;
  bool mma_ = has_matrix_cores();
  bool trace_ = std::getenv("ISOMER_GPU_TRACE") != nullptr;  // graph captures and re-launches on stderr
  DeviceArena scratch_, params_dev_;
  PinnedArena params_host_;
  Key last_key_, graph_key_;
  gpuGraph_t graph_ = nullptr;
  gpuGraphExec_t exec_ = nullptr;
};

GpuBuffer::GpuBuffer(GpuDevice& dev, size_t bytes) : dev_(dev), size_(bytes) {
  if (const gpuError_t e = gpuMalloc(reinterpret_cast<void**>(&ptr_), std::max<size_t>(bytes, 1)); e != gpuSuccess) {
    size_t free = 0, total = 0;
    (void)gpuMemGetInfo(&free, &total);
    (void)gpuGetLastError();
    fail("{}: cannot allocate {} ({} bytes): {}; {} free of {}", dev.properties().id, gib(bytes), bytes,
         error_text(e), gib(free), gib(total));
  }
}

void GpuBuffer::write(size_t offset, const void* src, size_t bytes) {
  range(offset, bytes, "a write");
  dev_.select();
  check(gpuMemcpyAsync(ptr_ + offset, src, bytes, gpuMemcpyHostToDevice, dev_.stream()), dev_.where("writing a buffer"));
  check(gpuStreamSynchronize(dev_.stream()), dev_.where("writing a buffer"));
}

void GpuBuffer::read(size_t offset, void* dst, size_t bytes) const {
  range(offset, bytes, "a read");
  dev_.select();
  check(gpuMemcpyAsync(dst, ptr_ + offset, bytes, gpuMemcpyDeviceToHost, dev_.stream()), dev_.where("reading a buffer"));
  check(gpuStreamSynchronize(dev_.stream()), dev_.where("reading a buffer"));
}

Support GpuDevice::supports(const Op& op, std::span<const TensorDesc> in, const TensorDesc& out) const {
  switch (op.kind()) {
    case OpKind::MatMul:
    case OpKind::GetRows: {
      const DType t = op.kind() == OpKind::MatMul ? in[1].type : in[0].type;
      if (!is_weight_type(t))
        return Support::no(fmt::format("{} with {} weights: no {} kernel", op.name(), dtype_name(t), GPU_BACKEND_NAME));
      return Support::yes();
    }
    case OpKind::StoreKV:
      if (!is_cache_type(out.type))
        return Support::no(fmt::format("store_kv to a {} cache: no {} kernel", dtype_name(out.type), GPU_BACKEND_NAME));
      return Support::yes();
    case OpKind::Attention: {
      const auto& p = std::get<AttentionParams>(op.params);
      if (!is_cache_type(in[1].type) || in[2].type != in[1].type)
        return Support::no(fmt::format("attention over {} / {} caches: no {} kernel", dtype_name(in[1].type),
                                       dtype_name(in[2].type), GPU_BACKEND_NAME));
      if (p.head_dim > kMaxHeadDim)
        return Support::no(fmt::format("attention with head size {}: the {} kernel takes at most {}", p.head_dim,
                                       GPU_BACKEND_NAME, kMaxHeadDim));
      return Support::yes();
    }
    default: return Support::yes();
  }
}

// The scratch and parameter space of each step, and the key that says whether a captured
// graph can be re-launched: every op, its constant parameters, shapes and bound addresses.
void GpuDevice::plan(std::span<const Step> steps, std::vector<Planned>& out, Key& key, size_t& scratch,
                     size_t& params) {
  scratch = params = 0;
  const auto bits = [](float f) {
    int32_t v;
    std::memcpy(&v, &f, 4);
    return int64_t{v};
  };
  auto bind = [&](const TensorBinding& b) {
    const auto* buf = dynamic_cast<const GpuBuffer*>(b.buffer);
    key.insert(key.end(), {static_cast<int64_t>(reinterpret_cast<intptr_t>(buf ? buf->data() : nullptr)),
                           static_cast<int64_t>(b.offset), static_cast<int64_t>(b.desc.type),
                           static_cast<int64_t>(b.desc.shape.size())});
    key.insert(key.end(), b.desc.shape.begin(), b.desc.shape.end());
  };
  key.reserve(steps.size() * 24);
  for (const Step& s : steps) {
    Planned p{&s};
    key.push_back(static_cast<int64_t>(s.op->kind()));
    for (const auto& b : s.inputs) bind(b);
    bind(s.output);
    switch (s.op->kind()) {
      case OpKind::MatMul: {
        const DType t = s.inputs[1].desc.type;
        const int64_t rows = s.inputs[0].desc.rows(), k = s.inputs[0].desc.cols(), m = s.inputs[1].desc.shape[0];
        size_t need = traits(t).block_elems == 256 ? s.inputs[0].desc.bytes() : 0;  // Q8_K-rounded x
        p.vendor = blas_ && rows > kVecRows;
        if (p.vendor && t != DType::F32) {
          const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(m, int64_t{kGpuBlasChunkElements} / k));
          need = align_up(need) + static_cast<size_t>(chunk * k) * 4;  // dequantised weight rows
        }
        if (need) {
          p.scratch = scratch;
          scratch += align_up(need);
        }
        break;
      }
      case OpKind::Rope: {
        const auto& rp = std::get<RopeParams>(s.op->params);
        key.insert(key.end(), {rp.head_dim, rp.n_rot, static_cast<int64_t>(rp.mode)});
        p.param = params;
        params += align_up(static_cast<size_t>(s.inputs[0].desc.rows() * rp.n_rot) * 4, 16);
        break;
      }
      case OpKind::StoreKV:
      case OpKind::Attention:
        if (s.op->kind() == OpKind::Attention) {
          const auto& ap = std::get<AttentionParams>(s.op->params);
          key.insert(key.end(), {ap.heads, ap.kv_heads, ap.head_dim, bits(ap.scale)});
        }
        p.param = params;
        params += 16;
        break;
      case OpKind::RmsNorm: key.push_back(bits(std::get<RmsNormParams>(s.op->params).eps)); break;
      default: break;
    }
    out.push_back(p);
  }
}

// The values that change between decode steps, into the pinned parameter area.
void GpuDevice::fill_params(const std::vector<Planned>& planned) {
  for (const Planned& p : planned) {
    const Step& s = *p.step;
    uint8_t* at = params_host_.ptr + p.param;
    switch (s.op->kind()) {
      case OpKind::Rope: {
        rope_table(s, reinterpret_cast<float*>(at));  // exact agreement with the CPU backend
        break;
      }
      case OpKind::StoreKV: {
        const int64_t first = std::get<StoreKVParams>(s.op->params).first_row * s.output.desc.cols();
        std::memcpy(at, &first, 8);
        break;
      }
      case OpKind::Attention: {
        const int64_t n_past = std::get<AttentionParams>(s.op->params).n_past;
        std::memcpy(at, &n_past, 8);
        break;
      }
      default: break;
    }
  }
}

void GpuDevice::run(std::span<const Step> steps) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto host_us = [&] {  // host time of this call, for the trace
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  };
  select();
  // The previous run must be done before its parameter area is rewritten.
  check(gpuStreamSynchronize(stream_), where("running the previous steps"));
  std::vector<Planned> planned;
  Key key;
  size_t scratch = 0, params = 0;
  plan(steps, planned, key, scratch, params);
  if (scratch > scratch_.size) {
    drop_graph();  // its kernels point into the old scratch
    (void)gpuFree(scratch_.ptr);
    scratch_ = {};
    if (const gpuError_t e = gpuMalloc(reinterpret_cast<void**>(&scratch_.ptr), scratch); e != gpuSuccess)
      fail_gpu(e, where(fmt::format("allocating {} of scratch for {} steps", gib(scratch), steps.size())));
    scratch_.size = scratch;
  }
  if (params > params_host_.size) {
    drop_graph();
    (void)gpuFree(params_dev_.ptr);
    (void)gpuFreeHost(params_host_.ptr);
    params_dev_ = {};
    params_host_ = {};
    const size_t size = std::max<size_t>(params * 2, 4096);
    check(gpuMalloc(reinterpret_cast<void**>(&params_dev_.ptr), size), where("allocating the parameter area"));
    params_dev_.size = size;
    check(gpuMallocHost(reinterpret_cast<void**>(&params_host_.ptr), size), where("allocating pinned memory"));
    params_host_.size = size;
  }
  fill_params(planned);

  if (graphs_ && exec_ && key == graph_key_) {
    check(gpuGraphLaunch(exec_, stream_), where("launching the captured graph"));
    if (trace_) fmt::print(stderr, "{}: re-launched the graph of {} steps ({:.0f} us on the host)\n", props_.id, steps.size(), host_us());
    return;
  }
  // Capture decode-like sequences (no vendor BLAS, every product a matrix-vector one) the
  // second time they come in a row: the first time could be a one-off prompt.
  bool capture = graphs_ && key == last_key_;
  for (const Planned& p : planned)
    if (p.vendor || (p.step->op->kind() == OpKind::MatMul && p.step->inputs[0].desc.rows() > kVecRows))
      capture = false;
  last_key_ = key;
  if (!capture) {
    enqueue(planned, params);
    return;
  }
  drop_graph();
  check(gpuStreamBeginCapture(stream_, gpuStreamCaptureModeThreadLocal), where("starting a graph capture"));
  try {
    enqueue(planned, params);
  } catch (...) {
    gpuGraph_t g = nullptr;
    (void)gpuStreamEndCapture(stream_, &g);
    if (g) (void)gpuGraphDestroy(g);
    (void)gpuGetLastError();
    throw;
  }
  check(gpuStreamEndCapture(stream_, &graph_), where("ending a graph capture"));
  if (const gpuError_t e = gpu_graph_instantiate(&exec_, graph_); e != gpuSuccess) {
    // Graphs are an optimisation: without one, run the steps directly from now on.
    (void)gpuGetLastError();
    drop_graph();
    graphs_ = false;
    enqueue(planned, params);
    return;
  }
  graph_key_ = key;
  check(gpuGraphLaunch(exec_, stream_), where("launching the captured graph"));
  if (trace_) fmt::print(stderr, "{}: captured a graph of {} steps ({:.0f} us on the host)\n", props_.id, steps.size(), host_us());
}

void GpuDevice::enqueue(const std::vector<Planned>& planned, size_t param_bytes) {
  if (param_bytes)
    check(gpuMemcpyAsync(params_dev_.ptr, params_host_.ptr, param_bytes, gpuMemcpyHostToDevice, stream_),
          where("uploading step parameters"));
  for (const Planned& p : planned) {
    const Step& s = *p.step;
    try {
      launch(p);
      if (const gpuError_t e = gpuGetLastError(); e != gpuSuccess) {
        std::string hint;
        if (std::string_view(gpuGetErrorName(e)).find("NoKernelImage") != std::string_view::npos ||
            std::string_view(gpuGetErrorName(e)).find("InvalidDeviceFunction") != std::string_view::npos)
          hint = fmt::format(" (this module was built for {}; the device is {})", ISOMER_GPU_ARCHS,
                             props_.extra.empty() ? "?" : props_.extra[0].second);
        fail("kernel launch failed: {}{}", error_text(e), hint);
      }
    } catch (const Error& e) {
      fail("{} at node {} ({} -> {}): {}", props_.id, s.label, s.op->name(), s.output.desc.to_string(), e.what());
    }
  }
}

template <class T = uint8_t>
T* dev_ptr(const TensorBinding& b, size_t align = 1) {
  const auto* buf = dynamic_cast<const GpuBuffer*>(b.buffer);
  if (!buf) fail("an operand ({}) is not in a buffer of this device", b.desc.to_string());
  if (b.offset % align != 0)
    fail("a {} operand at byte offset {} is not {}-byte aligned", dtype_name(b.desc.type), b.offset, align);
  if (b.offset > buf->size() || b.desc.bytes() > buf->size() - b.offset)
    fail("an operand ({} at offset {}) overruns its buffer of {} bytes", b.desc.to_string(), b.offset, buf->size());
  return reinterpret_cast<T*>(buf->data() + b.offset);
}

size_t element_align(DType t) {
  return t == DType::F32 || t == DType::I32 ? 4 : t == DType::F16 || t == DType::BF16 ? 2 : 1;
}

void GpuDevice::launch(const Planned& p) {
  const Step& s = *p.step;
  const auto& in = s.inputs;
  Stream st = stream_;
  float* y = s.op->kind() == OpKind::StoreKV || s.op->kind() == OpKind::Copy ? nullptr : dev_ptr<float>(s.output, 4);
  const int64_t* param = reinterpret_cast<const int64_t*>(params_dev_.ptr + p.param);
  switch (s.op->kind()) {
    case OpKind::MatMul: {
      const DType t = in[1].desc.type;
      const int rows = to_int(in[0].desc.rows(), "rows"), k = to_int(in[0].desc.cols(), "k");
      const int m = to_int(in[1].desc.shape[0], "m");
      const float* x = dev_ptr<float>(in[0], 4);
      const uint8_t* w = dev_ptr(in[1], element_align(t));
      const int64_t stride = static_cast<int64_t>(row_bytes(t, k));
      if (traits(t).block_elems == 256) {
        // K-quant weights: activations rounded to Q8_K first, as the CPU backend does.
        auto* q = reinterpret_cast<float*>(scratch_.ptr + p.scratch);
        quantize_q8k(st, x, q, in[0].desc.elements() / 256);
        x = q;
      }
      if (p.vendor) {
        // Column-major view: y^T[m, rows] = W[m, k] x^T[k, rows], W read transposed from its
        // row-major [m, k]; non-F32 weights dequantised in chunks of rows first.
        if (t == DType::F32) {
          Blas::library().sgemm(blas_, kGpuBlasOpT, kGpuBlasOpN, m, rows, k, reinterpret_cast<const float*>(w), k,
                                x, k, y, m);
          return;
        }
        size_t off = traits(t).block_elems == 256 ? align_up(in[0].desc.bytes()) : 0;
        auto* wf = reinterpret_cast<float*>(scratch_.ptr + p.scratch + off);
        const int chunk = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(m, int64_t{kGpuBlasChunkElements} / k)));
        for (int j0 = 0; j0 < m; j0 += chunk) {
          const int n = std::min(chunk, m - j0);
          get_rows(st, static_cast<int>(t), w + j0 * stride, nullptr, wf, n, k, stride, n);
          if (const gpuError_t e = gpuGetLastError(); e != gpuSuccess) fail("dequantising weights: {}", error_text(e));
          Blas::library().sgemm(blas_, kGpuBlasOpT, kGpuBlasOpN, n, rows, k, wf, k, x, k, y + j0, m);
        }
        return;
      }
      if (rows <= kVecRows) mul_mat_vec(st, static_cast<int>(t), x, w, y, rows, k, m, stride);
      else if (mma_ && mma_takes(static_cast<int>(t))) mul_mat_mma(st, static_cast<int>(t), x, w, y, rows, k, m, stride);
      else mul_mat_tiled(st, static_cast<int>(t), x, w, y, rows, k, m, stride);
      return;
    }
    case OpKind::GetRows: {
      const DType t = in[0].desc.type;
      const int cols = to_int(in[0].desc.cols(), "cols");
      get_rows(st, static_cast<int>(t), dev_ptr(in[0], element_align(t)), dev_ptr<int32_t>(in[1], 4), y,
               in[1].desc.elements(), cols, static_cast<int64_t>(row_bytes(t, cols)), in[0].desc.shape[0]);
      return;
    }
    case OpKind::RmsNorm: {
      const int64_t g = in[1].desc.elements();
      rms_norm(st, dev_ptr<float>(in[0], 4), dev_ptr<float>(in[1], 4), y, in[0].desc.elements() / g,
               to_int(g, "group"), std::get<RmsNormParams>(s.op->params).eps);
      return;
    }
    case OpKind::Add:
      add(st, dev_ptr<float>(in[0], 4), dev_ptr<float>(in[1], 4), y, s.output.desc.elements(), in[1].desc.elements());
      return;
    case OpKind::SwiGlu:
      swiglu(st, dev_ptr<float>(in[0], 4), dev_ptr<float>(in[1], 4), y, s.output.desc.elements());
      return;
    case OpKind::Rope: {
      const auto& rp = std::get<RopeParams>(s.op->params);
      rope(st, dev_ptr<float>(in[0], 4), reinterpret_cast<const float*>(param), y, s.output.desc.elements(),
           to_int(in[0].desc.cols(), "cols"), rp.head_dim, rp.n_rot, rp.mode == RopeMode::HalfSplit);
      return;
    }
    case OpKind::StoreKV: {
      const DType t = s.output.desc.type;
      store_kv(st, static_cast<int>(t), dev_ptr<float>(in[0], 4), dev_ptr(s.output, element_align(t)),
               in[0].desc.elements(), param);
      return;
    }
    case OpKind::Attention: {
      const auto& ap = std::get<AttentionParams>(s.op->params);
      const DType t = in[1].desc.type;
      attention(st, static_cast<int>(t), dev_ptr<float>(in[0], 4), dev_ptr(in[1], element_align(t)),
                dev_ptr(in[2], element_align(t)), y, to_int(in[0].desc.rows(), "rows"), ap.heads, ap.kv_heads,
                ap.head_dim, to_int(in[1].desc.cols(), "cache width"), param, ap.scale);
      return;
    }
    case OpKind::Copy:
      check(gpuMemcpyAsync(dev_ptr(s.output), dev_ptr(in[0]), in[0].desc.bytes(), gpuMemcpyDeviceToDevice, stream_),
            "copy");
      return;
  }
}

class GpuBackend final : public Backend {
 public:
  std::string_view name() const override { return GPU_BACKEND_NAME; }
  std::vector<DeviceProperties> devices() override { return facts().devices; }
  std::string unavailable_reason() override { return facts().unavailable; }
  std::unique_ptr<Device> open(int index, const DeviceOptions& options) override {
    const Facts& f = facts();
    if (f.devices.empty()) fail("backend {} is unavailable: {}", GPU_BACKEND_NAME, f.unavailable);
    if (index < 0 || static_cast<size_t>(index) >= f.devices.size())
      fail("backend {}: no device {} (there are {}: {}:0 to {}:{})", GPU_BACKEND_NAME, index, f.devices.size(),
           GPU_BACKEND_NAME, GPU_BACKEND_NAME, f.devices.size() - 1);
    return std::make_unique<GpuDevice>(index, options);
  }
};

Backend* the_backend() {
  static GpuBackend b;
  return &b;
}

}  // namespace
}  // namespace isomer::gpu

// The module's one export (isomer/backend_module.h).
extern "C" __attribute__((visibility("default"))) const IsomerBackendModule* isomer_backend_module() {
  static const IsomerBackendModule m{ISOMER_BACKEND_API_VERSION, GPU_BACKEND_NAME, ISOMER_VERSION_STRING,
                                     &isomer::gpu::the_backend};
  return &m;
}
