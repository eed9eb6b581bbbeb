/* isomer's stable C API.
 *
 * Opaque handles with explicit ownership: every isomer_*_create / isomer_model_load has a
 * matching *_free, and nothing else frees. Every function returns an isomer_status; on failure
 * isomer_last_error() holds a message with the context (file, tensor, op, backend), per
 * thread, until the next failing call on that thread. No C++ type or exception crosses this
 * boundary.
 *
 * Threads: a model may be shared by many sessions on many threads at once (the sessions
 * share its weights). A session or a sampler is used by one thread at a time.
 * Use after free is undefined; freeing a handle twice is detected and reported
 * (ISOMER_ERR_INVALID_HANDLE).
 *
 * Structs passed in begin with `struct_size` (set by the *_default_params functions), so that
 * fields can be added without breaking binaries built against an older header. */
#ifndef ISOMER_ISOMER_H
#define ISOMER_ISOMER_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define ISOMER_API __declspec(dllexport)
#else
#define ISOMER_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to this header. */
#define ISOMER_ABI_VERSION 1

typedef enum isomer_status {
  ISOMER_OK = 0,
  ISOMER_ERR_INVALID_ARGUMENT = 1, /* a null pointer, a bad size or option */
  ISOMER_ERR_INVALID_HANDLE = 2,   /* a null, freed or foreign handle */
  ISOMER_ERR_BUFFER_TOO_SMALL = 3, /* the out-count says how much is needed */
  ISOMER_ERR_INVALID_TOKEN = 4,    /* a token id outside the vocabulary */
  ISOMER_ERR_CONTEXT_FULL = 5,     /* the sequence would outgrow the session's context */
  ISOMER_ERR_MODEL = 6,            /* the file cannot be read or is not a model isomer runs */
  ISOMER_ERR_BACKEND = 7,          /* no such backend or device, or it failed (e.g. out of memory) */
  ISOMER_ERR_CANCELLED = 8,        /* a callback asked to stop */
  ISOMER_ERR_OUT_OF_MEMORY = 9,    /* host memory */
  ISOMER_ERR_RUNTIME = 10          /* any other failure; the message says what */
} isomer_status;

typedef struct isomer_model isomer_model;
typedef struct isomer_session isomer_session;
typedef struct isomer_sampler isomer_sampler;

/* Versions and errors. */
ISOMER_API uint32_t isomer_abi_version(void);
ISOMER_API const char* isomer_version(void);                  /* "0.1.0" */
ISOMER_API const char* isomer_status_name(isomer_status status); /* "ISOMER_ERR_..." */
/* The message of this thread's last failure ("" if none); valid until its next failing call. */
ISOMER_API const char* isomer_last_error(void);

/* Backends and devices. Strings stay valid for the life of the process. */
typedef struct isomer_backend_info {
  const char* name;               /* "cpu", "vulkan", ... */
  int32_t available;              /* 1 when it has devices here */
  const char* unavailable_reason; /* why not ("" when available) */
  size_t device_count;
} isomer_backend_info;

typedef struct isomer_device_info {
  const char* id; /* "cpu:0", "vulkan:1" */
  const char* name;
  const char* vendor;
  const char* driver;
  uint64_t memory_bytes;
  uint32_t compute_units;
} isomer_device_info;

ISOMER_API isomer_status isomer_backend_count(size_t* count);
ISOMER_API isomer_status isomer_backend_get(size_t index, isomer_backend_info* info);
ISOMER_API isomer_status isomer_device_get(const char* backend, size_t index, isomer_device_info* info);

/* Models. */
/* Load progress in [0, 1]; return 0 to cancel the load (ISOMER_ERR_CANCELLED). */
typedef int (*isomer_progress_fn)(float progress, void* user_data);

/* Each backend's own portable kernels, or the vendor's library for matrix products (CPU:
 * oneDNN when built with it, CUDA: cuBLAS, HIP: hipBLAS), so that the same run can be measured
 * with and without it. */
typedef enum isomer_kernels { ISOMER_KERNELS_PORTABLE = 0, ISOMER_KERNELS_VENDOR = 1 } isomer_kernels;

typedef struct isomer_model_params {
  size_t struct_size;
  const char* backend; /* "cpu" (default), "vulkan", "cuda", "hip" */
  int32_t device;      /* device index within the backend */
  int32_t threads;     /* CPU threads; 0: all cores */
  int32_t use_mmap;    /* 1 (default): map the file; 0: read it into memory */
  isomer_progress_fn progress;
  void* progress_user_data;
  int32_t kernels;     /* isomer_kernels */
} isomer_model_params;

typedef struct isomer_model_info {
  const char* architecture; /* valid while the model lives */
  const char* name;
  const char* device;       /* "cpu:0" */
  int64_t n_vocab;
  int64_t n_ctx_train;
  int64_t n_embd;
  int32_t n_layer;
  int32_t bos;              /* -1 when the vocabulary has none */
  int32_t eos;
} isomer_model_info;

ISOMER_API isomer_model_params isomer_model_default_params(void);
ISOMER_API isomer_status isomer_model_load(const char* path, const isomer_model_params* params,
                                           isomer_model** model);
/* Releases the caller's reference; sessions created from the model keep it alive. */
ISOMER_API isomer_status isomer_model_free(isomer_model* model);
ISOMER_API isomer_status isomer_model_get_info(const isomer_model* model, isomer_model_info* info);

/* Tokenizer. On ISOMER_ERR_BUFFER_TOO_SMALL the count says how many are needed. */
ISOMER_API isomer_status isomer_tokenize(const isomer_model* model, const char* text, size_t text_len,
                                         int32_t add_special, int32_t parse_special, int32_t* tokens,
                                         size_t capacity, size_t* n_tokens);
/* Writes the text, NUL-terminated: `capacity` must exceed its length; `length` excludes the NUL. */
ISOMER_API isomer_status isomer_detokenize(const isomer_model* model, const int32_t* tokens, size_t n_tokens,
                                           int32_t render_special, char* text, size_t capacity, size_t* length);
/* 1 when `token` ends generation (end of sequence / turn). */
ISOMER_API isomer_status isomer_token_is_eog(const isomer_model* model, int32_t token, int32_t* is_eog);

/* Sessions: one sequence and its KV cache over a shared model. */
typedef enum isomer_kv_type { ISOMER_KV_F16 = 0, ISOMER_KV_BF16 = 1, ISOMER_KV_F32 = 2 } isomer_kv_type;

typedef struct isomer_session_params {
  size_t struct_size;
  int64_t n_ctx;       /* 0: the model's training context, at most 4096 */
  int32_t kv_type;     /* isomer_kv_type */
  int32_t strict;      /* 1: an op the device cannot run is an error, not a CPU fallback */
} isomer_session_params;

typedef struct isomer_session_stats {
  size_t struct_size;
  int64_t n_past;            /* positions in the sequence */
  int64_t n_ctx;
  int64_t prompt_tokens;     /* evaluated in batches of more than one token */
  double prompt_seconds;
  double prompt_tokens_per_second;
  int64_t decode_tokens;     /* evaluated one at a time */
  double decode_seconds;
  double decode_tokens_per_second;
  uint64_t memory_bytes;     /* KV cache and work memory of this session */
  int32_t splits;            /* device runs in the last evaluation (1: all on the model's device) */
  int32_t fallbacks;         /* nodes of the last evaluation that ran on the CPU instead */
} isomer_session_stats;

ISOMER_API isomer_session_params isomer_session_default_params(void);
ISOMER_API isomer_status isomer_session_create(isomer_model* model, const isomer_session_params* params,
                                               isomer_session** session);
ISOMER_API isomer_status isomer_session_free(isomer_session* session);
/* Appends tokens to the sequence and computes their logits: the last token's row, or every
 * token's row when all_logits is 1. */
ISOMER_API isomer_status isomer_session_eval(isomer_session* session, const int32_t* tokens, size_t n_tokens,
                                             int32_t all_logits);
/* The logits of the last evaluation, row-major [rows, n_vocab]; valid until the next call
 * that evaluates, resets or frees the session. */
ISOMER_API isomer_status isomer_session_logits(const isomer_session* session, const float** logits,
                                               size_t* rows, size_t* n_vocab);
ISOMER_API isomer_status isomer_session_reset(isomer_session* session);
/* Keeps the first n_keep positions of the sequence. */
ISOMER_API isomer_status isomer_session_truncate(isomer_session* session, int64_t n_keep);
ISOMER_API isomer_status isomer_session_get_stats(const isomer_session* session, isomer_session_stats* stats);

/* Samplers: repetition penalty, top-k, top-p, min-p, temperature, then a seeded draw;
 * temperature <= 0 is greedy. */
typedef struct isomer_sampler_params {
  size_t struct_size;
  float temperature;    /* 0.8 */
  int32_t top_k;        /* 40; <= 0 off */
  float top_p;          /* 0.95; >= 1 off */
  float min_p;          /* 0.05; <= 0 off */
  float repeat_penalty; /* 1: off */
  int32_t repeat_last_n;/* 64 */
  uint64_t seed;
} isomer_sampler_params;

ISOMER_API isomer_sampler_params isomer_sampler_default_params(void);
ISOMER_API isomer_status isomer_sampler_create(const isomer_sampler_params* params, isomer_sampler** sampler);
ISOMER_API isomer_status isomer_sampler_free(isomer_sampler* sampler);
/* Picks a token from the session's last logits row and records it (see accept). */
ISOMER_API isomer_status isomer_sampler_sample(isomer_sampler* sampler, const isomer_session* session,
                                               int32_t* token);
/* Records a token of the sequence (e.g. the prompt's) for the repetition penalty. */
ISOMER_API isomer_status isomer_sampler_accept(isomer_sampler* sampler, int32_t token);

/* Streaming generation: evaluates `prompt` (with the vocabulary's BOS when the session is
 * empty), then samples up to max_tokens tokens, calling on_token with each token and its text
 * (whole UTF-8 characters, NUL-terminated; empty while a character is incomplete). Stops at an
 * end-of-generation token or when on_token returns 0. ISOMER_ERR_CONTEXT_FULL, before anything
 * runs, when prompt plus max_tokens exceed the context. */
typedef int (*isomer_token_fn)(int32_t token, const char* text, size_t text_len, void* user_data);
ISOMER_API isomer_status isomer_generate(isomer_session* session, isomer_sampler* sampler, const char* prompt,
                                         int32_t max_tokens, isomer_token_fn on_token, void* user_data,
                                         int32_t* n_generated);

#ifdef __cplusplus
}
#endif

#endif /* ISOMER_ISOMER_H */
