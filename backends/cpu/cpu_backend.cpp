// The CPU backend: host memory buffers, a thread team, and every op of the catalogue.
#include "cpu_backend.h"

#include <isomer/error.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "kernels.h"
#include "thread_pool.h"
#include "vec_dot_isa.h"
#if ISOMER_HAS_DNNL
#include "onednn.h"
#endif

namespace isomer::cpu {
namespace {

class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes) : size_(bytes) {
    // 64-byte alignment for vector loads; std::aligned_alloc needs a multiple of it.
    data_ = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64));
    if (!data_) fail("cpu: out of host memory allocating {} bytes", bytes);
    owned_ = true;
  }
  HostBuffer(const void* data, size_t bytes)
      : data_(static_cast<uint8_t*>(const_cast<void*>(data))), size_(bytes) {}
  ~HostBuffer() override {
    if (owned_) std::free(data_);
  }
  size_t size() const override { return size_; }
  void write(size_t offset, const void* src, size_t bytes) override {
    check(offset, bytes);
    std::memcpy(data_ + offset, src, bytes);
  }
  void read(size_t offset, void* dst, size_t bytes) const override {
    check(offset, bytes);
    std::memcpy(dst, data_ + offset, bytes);
  }
  void* host_data() const override { return data_; }

 private:
  void check(size_t offset, size_t bytes) const {
    if (offset > size_ || bytes > size_ - offset)
      fail("cpu: access of {} bytes at {} outside a buffer of {}", bytes, offset, size_);
  }
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = false;
};

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "CPU";
}

uint64_t physical_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  while (in >> key >> kib)
    if (key == "MemTotal:") return kib * 1024;
  return 0;
}

DeviceProperties cpu_properties(int threads) {
  DeviceProperties p;
  p.id = "cpu:0";
  p.name = cpu_model_name();
  p.vendor = "host";
  p.driver = "isomer cpu";
  p.memory_bytes = physical_memory();
  p.compute_units = std::thread::hardware_concurrency();
  p.extra.emplace_back("threads", std::to_string(threads));
  p.extra.emplace_back("simd", isa_description());
#if ISOMER_HAS_DNNL
  p.extra.emplace_back("kernels", "portable, vendor (" + OneDnn::version() + ")");
#else
  p.extra.emplace_back("kernels", "portable (vendor: oneDNN was not built in)");
#endif
  return p;
}

TensorView view(const TensorBinding& b) {
  return {b.desc, static_cast<uint8_t*>(b.buffer->host_data()) + b.offset};
}

// Rows [begin, end) of a row-major view (the elements of a 1-D one).
TensorView slice_rows(const TensorView& t, int64_t begin, int64_t end) {
  const int64_t row_elems = t.desc.shape.size() == 1 ? 1 : t.desc.cols();
  TensorView s = t;
  s.desc.shape[0] = end - begin;
  s.data = static_cast<uint8_t*>(t.data) + row_bytes(t.desc.type, row_elems) * begin;
  return s;
}

// Which inputs of a row-wise op are split along with the output's rows.
bool splits_with_output(const Op& op, size_t input, const TensorView& in, int64_t rows) {
  switch (op.kind()) {
    case OpKind::GetRows: return input == 1;
    case OpKind::RmsNorm: return input == 0;
    case OpKind::Add: return input == 0 || (in.desc.shape.size() == 2 && in.desc.rows() == rows);
    case OpKind::Rope: return input < 2;
    default: return false;
  }
}

// The most inputs a row-wise op takes (Rope: x, positions and frequency factors).
constexpr size_t kMaxRowWiseInputs = 3;

// How much of its next product's weights each thread fetches while it waits: a quarter of Zen 5's
// L2 cache (1 MiB a core; Intel Xeons' have 2 MiB), so that it is still there when read. 512 KiB
// and 1 MiB decoded no faster on a Xeon.
constexpr size_t kIdleFetchBytes = 256 << 10;

class CpuDevice final : public Device {
 public:
  CpuDevice(int threads, KernelChoice kernels) : pool_(threads), props_(cpu_properties(threads)) {
    if (kernels == KernelChoice::Vendor) {
#if ISOMER_HAS_DNNL
      onednn_ = std::make_unique<OneDnn>(threads);
#else
      fail("{}: --kernels vendor is unavailable: oneDNN was not built in (install libdnnl-dev and "
           "configure with ISOMER_DNNL=ON)", props_.id);
#endif
    }
  }

  const DeviceProperties& properties() const override { return props_; }
  std::unique_ptr<Buffer> allocate(size_t bytes) override {
    return std::make_unique<HostBuffer>(bytes);
  }
  std::unique_ptr<Buffer> wrap_host(const void* data, size_t bytes) override {
    return std::make_unique<HostBuffer>(data, bytes);
  }
  Support supports(const Op&, std::span<const TensorDesc>, const TensorDesc&) const override {
    return Support::yes();  // every op and type of the catalogue
  }
  void run(std::span<const Step> steps) override {
    // The products mat_mul runs, as groups of steps sharing their activations, in order (in
    // groups_, whose memory is reused run to run).
    size_t n_groups = 0;
    for (size_t i = 0; i < steps.size();) {
      const size_t n = products_sharing_input(steps, i);
      if (n > 0) {
        if (n_groups == groups_.size()) groups_.emplace_back();
        Group& group = groups_[n_groups++];
        group.first = i;
        group.products.clear();
        for (const Step& s : steps.subspan(i, n)) group.products.push_back({view(s.inputs[1]), view(s.output)});
      }
      i += std::max<size_t>(n, 1);
    }
    const std::span<const Group> groups(groups_.data(), n_groups);
    if (!groups.empty()) fetch_while_idle(groups.front().products, /*unless_named=*/true);
    std::vector<TensorView>& in = inputs_;
    size_t g = 0;  // the next group
    for (size_t i = 0; i < steps.size();) {
      const Step& s = steps[i];
      try {
        const Group* group = g < groups.size() && groups[g].first == i ? &groups[g] : nullptr;
        if (group) fetch_while_idle(groups[++g % groups.size()].products, false);
        if (group && group->products.size() > 1) {
          mat_mul(pool_, scratch_, view(s.inputs[0]), group->products);
          i += group->products.size();
          continue;
        }
        in.clear();
        for (const auto& b : s.inputs) in.push_back(view(b));
        run_op(*s.op, in, view(s.output));
      } catch (const Error& e) {
        fail("{} at node {}: {}", props_.id, s.label, e.what());
      }
      ++i;
    }
  }
  void synchronize() override {}

 private:
  // Whether mat_mul runs this product (not oneDNN).
  bool own_product(const Step& s) const {
    if (s.op->kind() != OpKind::MatMul) return false;
#if ISOMER_HAS_DNNL
    if (onednn_ && OneDnn::takes(view(s.inputs[0]), view(s.inputs[1]))) return false;
#endif
    return true;
  }
  // How many steps from `first` are matrix products of the same activations (a layer's Q, K and
  // V projections, its FFN gate and up) that mat_mul can run together, none reading another's
  // result; 0 where the step is no product mat_mul runs.
  size_t products_sharing_input(std::span<const Step> steps, size_t first) const {
    if (!own_product(steps[first])) return 0;
    const TensorBinding& x = steps[first].inputs[0];
    size_t n = 1;
    for (; first + n < steps.size(); ++n) {
      const Step& s = steps[first + n];
      if (!own_product(s) || s.inputs[0].buffer != x.buffer || s.inputs[0].offset != x.offset ||
          s.inputs[0].desc.shape != x.desc.shape)
        break;
      const bool reads_earlier = std::any_of(steps.begin() + first, steps.begin() + first + n, [&](const Step& e) {
        return overlaps(e.output, s.inputs[1]) || overlaps(e.output, x);
      });
      if (reads_earlier) break;
    }
    return n;
  }
  // Steps [first, first + products.size()): products of one activation.
  struct Group {
    size_t first;
    std::vector<Product> products;
  };
  // Hands each thread the weights it reads first in products p, to fetch while it
  // waits: while one thread works alone (norms, rotations, sampling) or finishes a loop, memory
  // would otherwise idle. qwen2.5-0.5b decode at 2 threads: the worker waited for 8-9 % of the
  // time. run names each group's successor and, after the last, the first (decode runs the same
  // steps token after token); unless_named: not when those are the products named last (at
  // the start of a run, the previous run's last group named its first).
  void fetch_while_idle(std::span<const Product> p, bool unless_named) {
    if (pool_.size() == 1) return;
    if (unless_named && p.front().w.data == fetch_named_) return;
    fetch_named_ = p.front().w.data;
    for (int t = 0; t < pool_.size(); ++t) {
      const std::span<const uint8_t> w = first_weights(pool_, p, t);
      pool_.fetch_while_idle(t, w.data(), std::min(w.size(), kIdleFetchBytes));
    }
  }
  static bool overlaps(const TensorBinding& a, const TensorBinding& b) {
    return a.buffer == b.buffer && a.offset < b.offset + b.desc.bytes() && b.offset < a.offset + a.desc.bytes();
  }

  void run_op(const Op& op, const std::vector<TensorView>& in, const TensorView& out) {
    switch (op.kind()) {
      case OpKind::MatMul:
#if ISOMER_HAS_DNNL
        if (onednn_ && OneDnn::takes(in[0], in[1])) return onednn_->mat_mul(pool_, in[0], in[1], out);
#endif
        return mat_mul(pool_, scratch_, in[0], std::array{Product{in[1], out}});
      case OpKind::Attention:
        return attention(pool_, std::get<AttentionParams>(op.params), in[0], in[1], in[2], out);
      case OpKind::SwiGlu: return swiglu(pool_, in[0], in[1], out);
      case OpKind::RmsNorm: return rms_norm(pool_, std::get<RmsNormParams>(op.params), in[0], in[1], out);
      case OpKind::StoreKV: return store_kv(pool_, std::get<StoreKVParams>(op.params), in[0], out);
      case OpKind::Copy: return reference(op, in, out);
      default: break;
    }
    // Row-wise ops: the reference code on row ranges, in parallel.
    const int64_t rows = out.desc.shape[0];
    if (in.size() > kMaxRowWiseInputs) fail("op {}: {} inputs, more than any row-wise op takes", op.name(), in.size());
    pool_.parallel_for(rows, row_grain(out.desc.cols()), [&](int64_t begin, int64_t end) {
      std::array<TensorView, kMaxRowWiseInputs> part;
      for (size_t i = 0; i < in.size(); ++i)
        part[i] = splits_with_output(op, i, in[i], rows) ? slice_rows(in[i], begin, end) : in[i];
      reference(op, std::span(part.data(), in.size()), slice_rows(out, begin, end));
    });
  }

  ThreadPool pool_;
  DeviceProperties props_;
  MatMulScratch scratch_;
  // run's work memory, reused run to run.
  std::vector<Group> groups_;
  std::vector<TensorView> inputs_;
  const void* fetch_named_ = nullptr;  // the first weights of the products fetch_while_idle named last
#if ISOMER_HAS_DNNL
  std::unique_ptr<OneDnn> onednn_;  // --kernels vendor
#endif
};

class CpuBackend final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  std::vector<DeviceProperties> devices() override { return {cpu_properties(default_threads())}; }
  std::unique_ptr<Device> open(int index, const DeviceOptions& options) override {
    if (index != 0) fail("backend cpu: no device {} (there is one CPU device, cpu:0)", index);
    if (options.threads < 0) fail("backend cpu: thread count {} is negative", options.threads);
    return std::make_unique<CpuDevice>(options.threads > 0 ? options.threads : default_threads(), options.kernels);
  }

 private:
  static int default_threads() {
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }
};

}  // namespace

Backend& backend() {
  static CpuBackend instance;
  return instance;
}

}  // namespace isomer::cpu
