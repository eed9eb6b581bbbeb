// The C API over the C++ runtime: handle bookkeeping, argument checks, and the translation of
// exceptions into status codes plus a thread-local message. Nothing thrown escapes.
#include <isomer/backend.h>
#include <isomer/error.h>
#include <isomer/generate.h>
#include <isomer/isomer.h>
#include <isomer/model.h>
#include <isomer/sampler.h>
#include <isomer/version.h>

#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

struct isomer_model {
  std::shared_ptr<isomer::Model> model;
};

struct isomer_session {
  std::shared_ptr<isomer::Model> model;  // sessions keep their model alive
  std::unique_ptr<isomer::Context> ctx;
};

struct isomer_sampler {
  isomer::Sampler sampler;
};

namespace isomer::capi {
namespace {

thread_local std::string last_error;

// A failure the C layer detects itself, with its status.
struct ApiError : Error {
  isomer_status status;
  ApiError(isomer_status s, std::string message) : Error(std::move(message)), status(s) {}
};

template <class... Args>
[[noreturn]] void reject(isomer_status status, fmt::format_string<Args...> format, Args&&... args) {
  throw ApiError(status, fmt::format(format, std::forward<Args>(args)...));
}

// Every live handle, so that a null, freed or foreign pointer is an error rather than a crash
// (where the pointer was never reused: use after free stays undefined, as documented).
enum class Kind { Model, Session, Sampler };
std::mutex handles_mutex;
std::unordered_map<const void*, Kind> handles;

constexpr const char* kind_name(Kind k) {
  return k == Kind::Model ? "model" : k == Kind::Session ? "session" : "sampler";
}

void add_handle(const void* p, Kind kind) {
  std::lock_guard lock(handles_mutex);
  handles.emplace(p, kind);
}

template <class T>
T* checked(T* p, Kind kind, const char* what) {
  if (!p) reject(ISOMER_ERR_INVALID_HANDLE, "{}: the {} handle is null", what, kind_name(kind));
  std::lock_guard lock(handles_mutex);
  const auto it = handles.find(p);
  if (it == handles.end() || it->second != kind)
    reject(ISOMER_ERR_INVALID_HANDLE, "{}: not a live {} handle (already freed, or not one)", what,
           kind_name(kind));
  return p;
}

// Removes a handle; a second free of the same pointer finds it gone.
template <class T>
void release(T* p, Kind kind, const char* what) {
  checked(p, kind, what);
  {
    std::lock_guard lock(handles_mutex);
    handles.erase(p);
  }
  delete p;
}

void need(const void* p, const char* what, const char* name) {
  if (!p) reject(ISOMER_ERR_INVALID_ARGUMENT, "{}: {} is null", what, name);
}

// Older callers pass a smaller struct (the fields they lack take defaults), newer ones a
// larger one (the fields this build lacks are ignored).
void check_struct(size_t struct_size, const char* what, const char* type) {
  if (struct_size < sizeof(size_t))
    reject(ISOMER_ERR_INVALID_ARGUMENT, "{}: {}.struct_size is {} (start from the default params)", what, type,
           struct_size);
}

isomer_status record(isomer_status status, const char* message) {
  last_error = message;
  return status;
}

// Runs `fn`, mapping what it throws to a status; `fallback` for isomer::Error of no
// specific kind.
template <class F>
isomer_status guard(isomer_status fallback, F&& fn) noexcept {
  try {
    fn();
    return ISOMER_OK;
  } catch (const ApiError& e) {
    return record(e.status, e.what());
  } catch (const Cancelled& e) {
    return record(ISOMER_ERR_CANCELLED, e.what());
  } catch (const ContextFull& e) {
    return record(ISOMER_ERR_CONTEXT_FULL, e.what());
  } catch (const InvalidToken& e) {
    return record(ISOMER_ERR_INVALID_TOKEN, e.what());
  } catch (const DeviceError& e) {
    return record(ISOMER_ERR_BACKEND, e.what());
  } catch (const Error& e) {
    return record(fallback, e.what());
  } catch (const std::bad_alloc&) {
    return record(ISOMER_ERR_OUT_OF_MEMORY, "out of host memory");
  } catch (const std::exception& e) {
    return record(ISOMER_ERR_RUNTIME, e.what());
  } catch (...) {
    return record(ISOMER_ERR_RUNTIME, "unknown failure");
  }
}

// Backends and their devices, enumerated once: the C strings must outlive every caller.
struct BackendRecord {
  std::string name, reason;
  std::vector<DeviceProperties> devices;
};
const std::deque<BackendRecord>& backend_records() {
  static const std::deque<BackendRecord> records = [] {
    std::deque<BackendRecord> r;
    for (Backend* b : backends()) {
      BackendRecord rec{std::string(b->name()), "", b->devices()};
      if (rec.devices.empty()) rec.reason = b->unavailable_reason();
      r.push_back(std::move(rec));
    }
    return r;
  }();
  return records;
}

void check_tokens(const isomer_model* m, const int32_t* tokens, size_t n, const char* what) {
  const int64_t n_vocab = m->model->config().n_vocab;
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      reject(ISOMER_ERR_INVALID_TOKEN, "{}: token {} (index {}) is outside the vocabulary of {}", what, tokens[i],
             i, n_vocab);
}

}  // namespace
}  // namespace isomer::capi

using namespace isomer;
using namespace isomer::capi;

extern "C" {

uint32_t isomer_abi_version(void) { return ISOMER_ABI_VERSION; }
const char* isomer_version(void) { return isomer::version(); }
const char* isomer_last_error(void) { return last_error.c_str(); }

const char* isomer_status_name(isomer_status status) {
  switch (status) {
    case ISOMER_OK: return "ISOMER_OK";
    case ISOMER_ERR_INVALID_ARGUMENT: return "ISOMER_ERR_INVALID_ARGUMENT";
    case ISOMER_ERR_INVALID_HANDLE: return "ISOMER_ERR_INVALID_HANDLE";
    case ISOMER_ERR_BUFFER_TOO_SMALL: return "ISOMER_ERR_BUFFER_TOO_SMALL";
    case ISOMER_ERR_INVALID_TOKEN: return "ISOMER_ERR_INVALID_TOKEN";
    case ISOMER_ERR_CONTEXT_FULL: return "ISOMER_ERR_CONTEXT_FULL";
    case ISOMER_ERR_MODEL: return "ISOMER_ERR_MODEL";
    case ISOMER_ERR_BACKEND: return "ISOMER_ERR_BACKEND";
    case ISOMER_ERR_CANCELLED: return "ISOMER_ERR_CANCELLED";
    case ISOMER_ERR_OUT_OF_MEMORY: return "ISOMER_ERR_OUT_OF_MEMORY";
    case ISOMER_ERR_RUNTIME: return "ISOMER_ERR_RUNTIME";
  }
  return "unknown isomer_status";
}

isomer_status isomer_backend_count(size_t* count) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    need(count, "isomer_backend_count", "count");
    *count = backend_records().size();
  });
}

isomer_status isomer_backend_get(size_t index, isomer_backend_info* info) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    need(info, "isomer_backend_get", "info");
    const auto& all = backend_records();
    if (index >= all.size())
      reject(ISOMER_ERR_INVALID_ARGUMENT, "isomer_backend_get: index {} of {} backends", index, all.size());
    const BackendRecord& b = all[index];
    *info = {b.name.c_str(), b.devices.empty() ? 0 : 1, b.reason.c_str(), b.devices.size()};
  });
}

isomer_status isomer_device_get(const char* backend, size_t index, isomer_device_info* info) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    need(backend, "isomer_device_get", "backend");
    need(info, "isomer_device_get", "info");
    for (const BackendRecord& b : backend_records()) {
      if (b.name != backend) continue;
      if (index >= b.devices.size())
        reject(ISOMER_ERR_BACKEND, "isomer_device_get: {} has {} device(s), no index {}{}", backend,
               b.devices.size(), index, b.reason.empty() ? "" : " (" + b.reason + ")");
      const DeviceProperties& d = b.devices[index];
      *info = {d.id.c_str(), d.name.c_str(), d.vendor.c_str(), d.driver.c_str(), d.memory_bytes, d.compute_units};
      return;
    }
    reject(ISOMER_ERR_BACKEND, "isomer_device_get: no backend called '{}'", backend);
  });
}

isomer_model_params isomer_model_default_params(void) {
  isomer_model_params p{};
  p.struct_size = sizeof(p);
  p.backend = "cpu";
  p.use_mmap = 1;
  return p;
}

isomer_status isomer_model_load(const char* path, const isomer_model_params* params, isomer_model** model) {
  return guard(ISOMER_ERR_MODEL, [&] {
    need(path, "isomer_model_load", "path");
    need(model, "isomer_model_load", "model");
    *model = nullptr;
    isomer_model_params p = isomer_model_default_params();
    if (params) {
      check_struct(params->struct_size, "isomer_model_load", "isomer_model_params");
      std::memcpy(&p, params, std::min(params->struct_size, sizeof(p)));
    }
    LoadOptions options;
    options.backend = p.backend ? p.backend : "cpu";
    options.device = p.device;
    options.threads = p.threads;
    options.use_mmap = p.use_mmap != 0;
    if (p.threads < 0) reject(ISOMER_ERR_INVALID_ARGUMENT, "isomer_model_load: threads is {}", p.threads);
    if (p.kernels != ISOMER_KERNELS_PORTABLE && p.kernels != ISOMER_KERNELS_VENDOR)
      reject(ISOMER_ERR_INVALID_ARGUMENT, "isomer_model_load: kernels {} is not an isomer_kernels", p.kernels);
    options.kernels = p.kernels == ISOMER_KERNELS_VENDOR ? KernelChoice::Vendor : KernelChoice::Portable;
    if (p.progress)
      options.progress = [fn = p.progress, user = p.progress_user_data](float f) { return fn(f, user) != 0; };
    // Backend and device problems are ISOMER_ERR_BACKEND, the file's ISOMER_ERR_MODEL.
    const BackendRecord* backend = nullptr;
    for (const BackendRecord& b : backend_records())
      if (b.name == options.backend) backend = &b;
    if (!backend) reject(ISOMER_ERR_BACKEND, "isomer_model_load: no backend called '{}'", options.backend);
    if (p.device < 0 || static_cast<size_t>(p.device) >= backend->devices.size())
      reject(ISOMER_ERR_BACKEND, "isomer_model_load: {} has no device {}{}", options.backend, p.device,
             backend->reason.empty() ? "" : " (unavailable: " + backend->reason + ")");
    auto handle = std::make_unique<isomer_model>();
    handle->model = Model::load(path, options);
    add_handle(handle.get(), Kind::Model);
    *model = handle.release();
  });
}

isomer_status isomer_model_free(isomer_model* model) {
  return guard(ISOMER_ERR_RUNTIME, [&] { release(model, Kind::Model, "isomer_model_free"); });
}

isomer_status isomer_model_get_info(const isomer_model* model, isomer_model_info* info) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    const Model& m = *checked(model, Kind::Model, "isomer_model_get_info")->model;
    need(info, "isomer_model_get_info", "info");
    const ModelConfig& c = m.config();
    *info = {c.arch.c_str(), c.name.c_str(), m.device().properties().id.c_str(), c.n_vocab, c.n_ctx_train,
             c.n_embd, c.n_layer, m.tokenizer().bos(), m.tokenizer().eos()};
  });
}

isomer_status isomer_tokenize(const isomer_model* model, const char* text, size_t text_len, int32_t add_special,
                              int32_t parse_special, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    const Model& m = *checked(model, Kind::Model, "isomer_tokenize")->model;
    need(n_tokens, "isomer_tokenize", "n_tokens");
    if (text_len > 0) need(text, "isomer_tokenize", "text");
    if (capacity > 0) need(tokens, "isomer_tokenize", "tokens");
    const auto ids = m.tokenizer().encode({text ? text : "", text_len}, add_special != 0, parse_special != 0);
    *n_tokens = ids.size();
    if (ids.size() > capacity)
      reject(ISOMER_ERR_BUFFER_TOO_SMALL, "isomer_tokenize: {} tokens do not fit a buffer of {}", ids.size(),
             capacity);
    std::copy(ids.begin(), ids.end(), tokens);
  });
}

isomer_status isomer_detokenize(const isomer_model* model, const int32_t* tokens, size_t n_tokens,
                                int32_t render_special, char* text, size_t capacity, size_t* length) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    const isomer_model* h = checked(model, Kind::Model, "isomer_detokenize");
    need(length, "isomer_detokenize", "length");
    if (n_tokens > 0) need(tokens, "isomer_detokenize", "tokens");
    if (capacity > 0) need(text, "isomer_detokenize", "text");
    check_tokens(h, tokens, n_tokens, "isomer_detokenize");
    const std::string s = h->model->tokenizer().decode({tokens, n_tokens}, render_special != 0);
    *length = s.size();
    if (s.size() >= capacity)
      reject(ISOMER_ERR_BUFFER_TOO_SMALL, "isomer_detokenize: {} bytes and a NUL do not fit a buffer of {}",
             s.size(), capacity);
    std::memcpy(text, s.c_str(), s.size() + 1);
  });
}

isomer_status isomer_token_is_eog(const isomer_model* model, int32_t token, int32_t* is_eog) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    const isomer_model* h = checked(model, Kind::Model, "isomer_token_is_eog");
    need(is_eog, "isomer_token_is_eog", "is_eog");
    check_tokens(h, &token, 1, "isomer_token_is_eog");
    *is_eog = h->model->tokenizer().is_eog(token) ? 1 : 0;
  });
}

isomer_session_params isomer_session_default_params(void) {
  isomer_session_params p{};
  p.struct_size = sizeof(p);
  p.kv_type = ISOMER_KV_F16;
  return p;
}

isomer_status isomer_session_create(isomer_model* model, const isomer_session_params* params,
                                    isomer_session** session) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    const isomer_model* h = checked(model, Kind::Model, "isomer_session_create");
    need(session, "isomer_session_create", "session");
    *session = nullptr;
    isomer_session_params p = isomer_session_default_params();
    if (params) {
      check_struct(params->struct_size, "isomer_session_create", "isomer_session_params");
      std::memcpy(&p, params, std::min(params->struct_size, sizeof(p)));
    }
    if (p.n_ctx < 0) reject(ISOMER_ERR_INVALID_ARGUMENT, "isomer_session_create: n_ctx is {}", p.n_ctx);
    ContextOptions options{.n_ctx = p.n_ctx, .strict = p.strict != 0};
    switch (p.kv_type) {
      case ISOMER_KV_F16: options.kv_type = DType::F16; break;
      case ISOMER_KV_BF16: options.kv_type = DType::BF16; break;
      case ISOMER_KV_F32: options.kv_type = DType::F32; break;
      default: reject(ISOMER_ERR_INVALID_ARGUMENT, "isomer_session_create: kv_type {} is not an isomer_kv_type", p.kv_type);
    }
    auto s = std::make_unique<isomer_session>();
    s->model = h->model;
    s->ctx = std::make_unique<Context>(*h->model, options);
    add_handle(s.get(), Kind::Session);
    *session = s.release();
  });
}

isomer_status isomer_session_free(isomer_session* session) {
  return guard(ISOMER_ERR_RUNTIME, [&] { release(session, Kind::Session, "isomer_session_free"); });
}

isomer_status isomer_session_eval(isomer_session* session, const int32_t* tokens, size_t n_tokens,
                                  int32_t all_logits) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    isomer_session* s = checked(session, Kind::Session, "isomer_session_eval");
    if (n_tokens == 0) reject(ISOMER_ERR_INVALID_ARGUMENT, "isomer_session_eval: no tokens");
    need(tokens, "isomer_session_eval", "tokens");
    s->ctx->eval({tokens, n_tokens}, all_logits != 0);
  });
}

isomer_status isomer_session_logits(const isomer_session* session, const float** logits, size_t* rows,
                                    size_t* n_vocab) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    const isomer_session* s = checked(session, Kind::Session, "isomer_session_logits");
    need(logits, "isomer_session_logits", "logits");
    const auto vocab = static_cast<size_t>(s->model->config().n_vocab);
    const auto all = s->ctx->logits();
    if (all.empty()) reject(ISOMER_ERR_RUNTIME, "isomer_session_logits: nothing evaluated since the last reset");
    *logits = all.data();
    if (rows) *rows = all.size() / vocab;
    if (n_vocab) *n_vocab = vocab;
  });
}

isomer_status isomer_session_reset(isomer_session* session) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    isomer_session* s = checked(session, Kind::Session, "isomer_session_reset");
    s->ctx->reset();
  });
}

isomer_status isomer_session_truncate(isomer_session* session, int64_t n_keep) {
  return guard(ISOMER_ERR_INVALID_ARGUMENT, [&] {
    isomer_session* s = checked(session, Kind::Session, "isomer_session_truncate");
    s->ctx->truncate(n_keep);
  });
}

isomer_status isomer_session_get_stats(const isomer_session* session, isomer_session_stats* stats) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    const Context& ctx = *checked(session, Kind::Session, "isomer_session_get_stats")->ctx;
    need(stats, "isomer_session_get_stats", "stats");
    check_struct(stats->struct_size, "isomer_session_get_stats", "isomer_session_stats");
    const ContextStats c = ctx.stats();
    const auto rate = [](int64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
    isomer_session_stats out{};
    out.struct_size = std::min(stats->struct_size, sizeof(out));
    out.n_past = ctx.n_past();
    out.n_ctx = ctx.n_ctx();
    out.prompt_tokens = c.prompt_tokens;
    out.prompt_seconds = c.prompt_seconds;
    out.prompt_tokens_per_second = rate(c.prompt_tokens, c.prompt_seconds);
    out.decode_tokens = c.decode_tokens;
    out.decode_seconds = c.decode_seconds;
    out.decode_tokens_per_second = rate(c.decode_tokens, c.decode_seconds);
    out.memory_bytes = c.memory_bytes;
    out.splits = ctx.splits();
    out.fallbacks = static_cast<int32_t>(ctx.fallbacks().size());
    std::memcpy(stats, &out, out.struct_size);
  });
}

isomer_sampler_params isomer_sampler_default_params(void) {
  const SamplerOptions d;
  isomer_sampler_params p{};
  p.struct_size = sizeof(p);
  p.temperature = d.temperature;
  p.top_k = d.top_k;
  p.top_p = d.top_p;
  p.min_p = d.min_p;
  p.repeat_penalty = d.repeat_penalty;
  p.repeat_last_n = d.repeat_last_n;
  p.seed = d.seed;
  return p;
}

isomer_status isomer_sampler_create(const isomer_sampler_params* params, isomer_sampler** sampler) {
  return guard(ISOMER_ERR_INVALID_ARGUMENT, [&] {
    need(sampler, "isomer_sampler_create", "sampler");
    *sampler = nullptr;
    isomer_sampler_params p = isomer_sampler_default_params();
    if (params) {
      check_struct(params->struct_size, "isomer_sampler_create", "isomer_sampler_params");
      std::memcpy(&p, params, std::min(params->struct_size, sizeof(p)));
    }
    auto s = std::unique_ptr<isomer_sampler>(new isomer_sampler{Sampler({.temperature = p.temperature,
                                                                         .top_k = p.top_k,
                                                                         .top_p = p.top_p,
                                                                         .min_p = p.min_p,
                                                                         .repeat_penalty = p.repeat_penalty,
                                                                         .repeat_last_n = p.repeat_last_n,
                                                                         .seed = p.seed})});
    add_handle(s.get(), Kind::Sampler);
    *sampler = s.release();
  });
}

isomer_status isomer_sampler_free(isomer_sampler* sampler) {
  return guard(ISOMER_ERR_RUNTIME, [&] { release(sampler, Kind::Sampler, "isomer_sampler_free"); });
}

isomer_status isomer_sampler_sample(isomer_sampler* sampler, const isomer_session* session, int32_t* token) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    isomer_sampler* sp = checked(sampler, Kind::Sampler, "isomer_sampler_sample");
    const isomer_session* s = checked(session, Kind::Session, "isomer_sampler_sample");
    need(token, "isomer_sampler_sample", "token");
    const auto all = s->ctx->logits();
    if (all.empty()) reject(ISOMER_ERR_RUNTIME, "isomer_sampler_sample: the session has no logits yet");
    *token = sp->sampler.sample(all.last(static_cast<size_t>(s->model->config().n_vocab)));
    sp->sampler.accept(*token);
  });
}

isomer_status isomer_sampler_accept(isomer_sampler* sampler, int32_t token) {
  return guard(ISOMER_ERR_RUNTIME, [&] {
    checked(sampler, Kind::Sampler, "isomer_sampler_accept")->sampler.accept(token);
  });
}

isomer_status isomer_generate(isomer_session* session, isomer_sampler* sampler, const char* prompt,
                              int32_t max_tokens, isomer_token_fn on_token, void* user_data, int32_t* n_generated) {
  if (n_generated) *n_generated = 0;
  return guard(ISOMER_ERR_RUNTIME, [&] {
    isomer_session* s = checked(session, Kind::Session, "isomer_generate");
    isomer_sampler* sp = checked(sampler, Kind::Sampler, "isomer_generate");
    need(prompt, "isomer_generate", "prompt");
    if (max_tokens < 0) reject(ISOMER_ERR_INVALID_ARGUMENT, "isomer_generate: max_tokens is {}", max_tokens);
    const std::vector<int32_t> tokens = s->model->tokenizer().encode(prompt, s->ctx->n_past() == 0, true);
    if (tokens.empty())
      reject(ISOMER_ERR_INVALID_ARGUMENT, "isomer_generate: the prompt is empty and the model adds no BOS token");
    // Stopping through the callback is a normal end, not an error.
    generate(*s->ctx, sp->sampler, tokens, max_tokens, [&](int32_t token, std::string_view text) {
      if (n_generated) ++*n_generated;
      return !on_token || on_token(token, text.data(), text.size(), user_data) != 0;
    });
  });
}

}  // extern "C"
