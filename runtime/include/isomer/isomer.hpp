// Header-only RAII C++ wrapper over isomer's C API (isomer.h): handles become move-only
// objects, failures become isomer::cxx::Error with the status and the message. It uses only
// the C API, so it inherits its ABI stability.
#pragma once

#include <isomer/isomer.h>

#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace isomer::cxx {

class Error : public std::runtime_error {
 public:
  Error(isomer_status status, const std::string& message)
      : std::runtime_error(std::string(isomer_status_name(status)) + ": " + message), status_(status) {}
  isomer_status status() const { return status_; }

 private:
  isomer_status status_;
};

inline void check(isomer_status status) {
  if (status != ISOMER_OK) throw Error(status, isomer_last_error());
}

struct DeviceInfo {
  std::string id, name, vendor, driver;
  uint64_t memory_bytes = 0;
  uint32_t compute_units = 0;
};

struct BackendInfo {
  std::string name;
  bool available = false;
  std::string unavailable_reason;
  std::vector<DeviceInfo> devices;
};

inline std::vector<BackendInfo> backends() {
  size_t n = 0;
  check(isomer_backend_count(&n));
  std::vector<BackendInfo> out;
  for (size_t i = 0; i < n; ++i) {
    isomer_backend_info b{};
    check(isomer_backend_get(i, &b));
    BackendInfo info{b.name, b.available != 0, b.unavailable_reason, {}};
    for (size_t d = 0; d < b.device_count; ++d) {
      isomer_device_info di{};
      check(isomer_device_get(b.name, d, &di));
      info.devices.push_back({di.id, di.name, di.vendor, di.driver, di.memory_bytes, di.compute_units});
    }
    out.push_back(std::move(info));
  }
  return out;
}

namespace detail {
template <class T, isomer_status (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
}  // namespace detail

struct ModelParams {
  std::string backend = "cpu";
  int device = 0;
  int threads = 0;
  bool use_mmap = true;
  std::function<bool(float)> progress;  // return false to cancel
  isomer_kernels kernels = ISOMER_KERNELS_PORTABLE;
};

class Model {
 public:
  explicit Model(const std::string& path, const ModelParams& params = {}) {
    isomer_model_params p = isomer_model_default_params();
    p.backend = params.backend.c_str();
    p.device = params.device;
    p.threads = params.threads;
    p.use_mmap = params.use_mmap ? 1 : 0;
    p.kernels = params.kernels;
    if (params.progress) {
      p.progress = [](float f, void* user) { return (*static_cast<const std::function<bool(float)>*>(user))(f) ? 1 : 0; };
      p.progress_user_data = const_cast<std::function<bool(float)>*>(&params.progress);
    }
    isomer_model* m = nullptr;
    check(isomer_model_load(path.c_str(), &p, &m));
    handle_.reset(m);
  }

  isomer_model* get() const { return handle_.get(); }
  isomer_model_info info() const {
    isomer_model_info i{};
    check(isomer_model_get_info(get(), &i));
    return i;
  }

  std::vector<int32_t> tokenize(std::string_view text, bool add_special = true, bool parse_special = true) const {
    std::vector<int32_t> tokens(text.size() + 8);
    size_t n = 0;
    isomer_status s = isomer_tokenize(get(), text.data(), text.size(), add_special, parse_special, tokens.data(),
                                      tokens.size(), &n);
    if (s == ISOMER_ERR_BUFFER_TOO_SMALL) {
      tokens.resize(n);
      s = isomer_tokenize(get(), text.data(), text.size(), add_special, parse_special, tokens.data(), tokens.size(), &n);
    }
    check(s);
    tokens.resize(n);
    return tokens;
  }

  std::string detokenize(std::span<const int32_t> tokens, bool render_special = false) const {
    std::string text(64, '\0');
    size_t n = 0;
    isomer_status s = isomer_detokenize(get(), tokens.data(), tokens.size(), render_special, text.data(), text.size(), &n);
    if (s == ISOMER_ERR_BUFFER_TOO_SMALL) {
      text.resize(n + 1);
      s = isomer_detokenize(get(), tokens.data(), tokens.size(), render_special, text.data(), text.size(), &n);
    }
    check(s);
    text.resize(n);
    return text;
  }

  bool is_eog(int32_t token) const {
    int32_t eog = 0;
    check(isomer_token_is_eog(get(), token, &eog));
    return eog != 0;
  }

 private:
  std::unique_ptr<isomer_model, detail::Deleter<isomer_model, isomer_model_free>> handle_;
};

struct SamplerParams {
  isomer_sampler_params c = isomer_sampler_default_params();
  static SamplerParams greedy() {
    SamplerParams p;
    p.c.temperature = 0;
    return p;
  }
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params = {}) {
    isomer_sampler* s = nullptr;
    check(isomer_sampler_create(&params.c, &s));
    handle_.reset(s);
  }
  isomer_sampler* get() const { return handle_.get(); }
  void accept(int32_t token) { check(isomer_sampler_accept(get(), token)); }

 private:
  std::unique_ptr<isomer_sampler, detail::Deleter<isomer_sampler, isomer_sampler_free>> handle_;
};

struct SessionParams {
  int64_t n_ctx = 0;
  isomer_kv_type kv_type = ISOMER_KV_F16;
  bool strict = false;
};

class Session {
 public:
  explicit Session(const Model& model, const SessionParams& params = {}) {
    isomer_session_params p = isomer_session_default_params();
    p.n_ctx = params.n_ctx;
    p.kv_type = params.kv_type;
    p.strict = params.strict ? 1 : 0;
    isomer_session* s = nullptr;
    check(isomer_session_create(model.get(), &p, &s));
    handle_.reset(s);
  }
  isomer_session* get() const { return handle_.get(); }

  // Appends tokens; returns the logits (last row, or all rows), valid until the next call.
  std::span<const float> eval(std::span<const int32_t> tokens, bool all_logits = false) {
    check(isomer_session_eval(get(), tokens.data(), tokens.size(), all_logits));
    return logits();
  }
  std::span<const float> logits() const {
    const float* data = nullptr;
    size_t rows = 0, n_vocab = 0;
    check(isomer_session_logits(get(), &data, &rows, &n_vocab));
    return {data, rows * n_vocab};
  }
  int32_t sample(Sampler& sampler) const {
    int32_t token = -1;
    check(isomer_sampler_sample(sampler.get(), get(), &token));
    return token;
  }
  // Streams up to max_tokens tokens' text to on_text (return false to stop); returns how many
  // were generated.
  int generate(Sampler& sampler, const std::string& prompt, int max_tokens,
               const std::function<bool(std::string_view text)>& on_text) {
    struct Call {
      const std::function<bool(std::string_view)>* fn;
    } call{&on_text};
    int32_t n = 0;
    check(isomer_generate(get(), sampler.get(), prompt.c_str(), max_tokens,
                          [](int32_t, const char* text, size_t len, void* user) {
                            return (*static_cast<Call*>(user)->fn)({text, len}) ? 1 : 0;
                          },
                          &call, &n));
    return n;
  }
  void reset() { check(isomer_session_reset(get())); }
  void truncate(int64_t n_keep) { check(isomer_session_truncate(get(), n_keep)); }
  isomer_session_stats stats() const {
    isomer_session_stats s{};
    s.struct_size = sizeof(s);
    check(isomer_session_get_stats(get(), &s));
    return s;
  }

 private:
  std::unique_ptr<isomer_session, detail::Deleter<isomer_session, isomer_session_free>> handle_;
};

}  // namespace isomer::cxx
