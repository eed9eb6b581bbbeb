/* Load a model, stream a greedy generation, read the session's statistics: isomer's C API.
 * Usage: generate_c MODEL.gguf [BACKEND] [PROMPT] */
#include <isomer/isomer.h>

#include <stdio.h>

static int print_piece(int32_t token, const char* text, size_t len, void* user_data) {
  (void)token;
  (void)user_data;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return 1; /* 0 would stop the generation */
}

static int failed(isomer_status status) {
  fprintf(stderr, "%s: %s\n", isomer_status_name(status), isomer_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf [BACKEND] [PROMPT]\n", argv[0]);
    return 2;
  }
  isomer_model_params model_params = isomer_model_default_params();
  if (argc > 2) model_params.backend = argv[2]; /* "cpu", "vulkan", ... */
  const char* prompt = argc > 3 ? argv[3] : "Once upon a time";

  isomer_model* model = NULL;
  isomer_status status = isomer_model_load(argv[1], &model_params, &model);
  if (status != ISOMER_OK) return failed(status);

  isomer_session* session = NULL;
  isomer_sampler* sampler = NULL;
  isomer_sampler_params sampling = isomer_sampler_default_params();
  sampling.temperature = 0; /* greedy: the same text every run */
  status = isomer_session_create(model, NULL, &session);
  if (status == ISOMER_OK) status = isomer_sampler_create(&sampling, &sampler);
  int32_t generated = 0;
  if (status == ISOMER_OK) {
    printf("%s", prompt);
    status = isomer_generate(session, sampler, prompt, 32, print_piece, NULL, &generated);
    printf("\n");
  }
  if (status == ISOMER_OK) {
    isomer_session_stats stats = {0};
    stats.struct_size = sizeof stats;
    status = isomer_session_get_stats(session, &stats);
    fprintf(stderr, "%d tokens, prompt %.1f tokens/s, generation %.1f tokens/s, %llu bytes\n", (int)generated,
            stats.prompt_tokens_per_second, stats.decode_tokens_per_second, (unsigned long long)stats.memory_bytes);
  }
  if (status != ISOMER_OK) failed(status);
  isomer_sampler_free(sampler); /* freeing a null handle only reports an error */
  isomer_session_free(session);
  isomer_model_free(model);
  return status == ISOMER_OK ? 0 : 1;
}
