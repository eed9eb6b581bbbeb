// Generation: evaluate a prompt, then sample one token at a time, streaming text. Shared by
// `isomer run` and the C API's isomer_generate.
#pragma once

#include <isomer/model.h>
#include <isomer/sampler.h>

#include <functional>
#include <span>
#include <string_view>

namespace isomer {

struct GenerateResult {
  int sampled = 0;             // tokens sampled, the end-of-generation token included
  bool ended = false;          // stopped at an end-of-generation token
  double prompt_seconds = 0;   // evaluating the prompt
  double sample_seconds = 0;   // sampling and evaluating the generated tokens
};

// Evaluates `prompt` (appended to the context's sequence; the sampler sees it), then samples
// up to `max_tokens` tokens. Each token that does not end generation goes to `on_token` with
// its text (whole UTF-8 characters, possibly empty); returning false stops. isomer::ContextFull
// before anything runs when the prompt plus max_tokens exceed the context.
GenerateResult generate(Context& ctx, Sampler& sampler, std::span<const int32_t> prompt, int max_tokens,
                        const std::function<bool(int32_t token, std::string_view text)>& on_token);

}  // namespace isomer
