// Model loading: metadata -> architecture and hyper-parameters, tokenizer, and the weights
// placed on the device once (zero-copy over the mapped file where the device can address host
// memory, one upload otherwise).
#include <isomer/error.h>
#include <isomer/model.h>

#include <fmt/ranges.h>

#include <algorithm>

#include "arch/architecture.h"
#include "model/config.h"

namespace isomer {

LoadOptions load_options_for(const std::string& device, int threads) {
  LoadOptions o;
  o.backend = device;
  o.threads = threads;
  if (const auto colon = device.find(':'); colon != std::string::npos) {
    o.backend = device.substr(0, colon);
    const std::string index = device.substr(colon + 1);
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos || index.size() > 6)
      fail("device '{}': the index after ':' must be a number", device);
    o.device = std::stoi(index);
  }
  return o;
}

Model::~Model() = default;

const TensorBinding* Model::weight(std::string_view name, const Device& device) const {
  const auto& bindings = (&device == device_.get() ? weights_ : host_weights_).bindings;
  const auto it = std::lower_bound(bindings.begin(), bindings.end(), name,
                                   [](const auto& b, std::string_view n) { return b.first < n; });
  return it != bindings.end() && it->first == name ? &it->second : nullptr;
}

// The fraction of a load done, over the bytes it reads and uploads, for LoadOptions::progress.
class LoadProgress {
 public:
  explicit LoadProgress(const std::function<bool(float)>& fn) : fn_(fn) {}
  void add_work(uint64_t bytes) { total_ += bytes; }
  void done(uint64_t bytes) { report(done_ += bytes); }
  void finish() { report(total_ = done_ = std::max<uint64_t>(total_, 1)); }

 private:
  void report(uint64_t done) {
    if (fn_ && !fn_(total_ ? static_cast<float>(static_cast<double>(done) / static_cast<double>(total_)) : 0.0f))
      throw Cancelled("loading cancelled by the progress callback");
  }
  const std::function<bool(float)>& fn_;
  uint64_t total_ = 0, done_ = 0;
};

namespace {
constexpr uint64_t kUploadChunk = uint64_t{64} << 20;
}  // namespace

// All tensor data lies in one section of the file: the device gets it as one buffer, zero-copy
// where it can address host memory, else uploaded once.
void Model::place(Device& device, Placement& placement, LoadProgress& progress) const {
  const auto& tensors = file_->tensors();
  if (tensors.empty()) return;
  uint64_t end = 0;
  for (const auto& t : tensors) end = std::max(end, t.offset + t.nbytes);
  const uint8_t* section = tensors.front().data - tensors.front().offset;
  placement.buffer = device.wrap_host(section, end);
  if (!placement.buffer) {
    try {
      placement.buffer = device.allocate(end);
    } catch (const Error& e) {
      fail_with<DeviceError>("{}: the weights ({} MiB) do not fit on {}: {}", file_->path(), end >> 20,
           device.properties().id, e.what());
    }
    progress.add_work(end);
    for (uint64_t at = 0; at < end; at += kUploadChunk) {
      const uint64_t n = std::min(kUploadChunk, end - at);
      placement.buffer->write(at, section + at, n);
      progress.done(n);
    }
  }
  for (const auto& t : tensors) {
    TensorDesc desc{t.type, Shape(t.dims.rbegin(), t.dims.rend())};
    placement.bindings.emplace_back(t.name, TensorBinding{desc, placement.buffer.get(), t.offset});
  }
  std::sort(placement.bindings.begin(), placement.bindings.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
  std::unique_ptr<Model> m(new Model);
  LoadProgress progress(options.progress);
  uint64_t read_before = 0;
  const auto on_read = [&](uint64_t done, uint64_t total) {
    if (read_before == 0) progress.add_work(total);
    progress.done(done - read_before);
    read_before = done;
  };
  m->file_ = gguf::File::open(path, {.use_mmap = options.use_mmap, .on_read = on_read});
  const gguf::File& file = *m->file_;

  const auto arch = file.get_string("general.architecture");
  if (!arch) fail("{}: no general.architecture in the metadata; is this a model file?", path);
  const Architecture* architecture = find_architecture(*arch);
  if (!architecture)
    fail("{}: architecture '{}' is not supported (supported: {})", path, *arch,
         fmt::join(supported_architectures(), ", "));
  m->config_ = read_config(file, *arch);
  m->tokenizer_ = Tokenizer::from_gguf(file);

  m->device_ = backend(options.backend).open(options.device, {.threads = options.threads, .kernels = options.kernels});

  m->place(*m->device_, m->weights_, progress);
  if (options.backend != "cpu") {
    m->cpu_ = backend("cpu").open(0, {.threads = options.threads});
    m->place(*m->cpu_, m->host_weights_, progress);
  }

  // Build a one-token graph now, so that a missing or misshapen tensor is reported at load.
  GraphBuilder builder(*m, Batch{.n_tokens = 1, .n_past = 0, .n_ctx = 1});
  architecture->build(builder);
  progress.finish();
  return m;
}

}  // namespace isomer
