#include <isomer/error.h>
#include <isomer/generate.h>

#include <chrono>

namespace isomer {
namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

GenerateResult generate(Context& ctx, Sampler& sampler, std::span<const int32_t> prompt, int max_tokens,
                        const std::function<bool(int32_t, std::string_view)>& on_token) {
  if (prompt.empty()) fail("generate: the prompt has no tokens");
  if (max_tokens < 0) fail("generate: max_tokens is negative ({})", max_tokens);
  const int64_t needed = ctx.n_past() + static_cast<int64_t>(prompt.size()) + max_tokens;
  if (needed > ctx.n_ctx())
    fail_with<ContextFull>(
        "prompt ({} tokens) + generation ({} tokens){} = {} exceeds the context of {} tokens; use a "
        "shorter prompt, fewer tokens or a larger context",
        prompt.size(), max_tokens,
        ctx.n_past() > 0 ? fmt::format(" after {} earlier positions", ctx.n_past()) : std::string(),
        needed, ctx.n_ctx());
  const Tokenizer& tok = ctx.model().tokenizer();
  GenerateResult r;
  for (int32_t t : prompt) sampler.accept(t);
  const auto t0 = std::chrono::steady_clock::now();
  auto logits = ctx.eval(prompt);
  r.prompt_seconds = seconds_since(t0);

  StreamDecoder text(tok);
  const auto t1 = std::chrono::steady_clock::now();
  while (r.sampled < max_tokens) {
    const int32_t next = sampler.sample(logits);
    ++r.sampled;
    if (tok.is_eog(next)) {
      r.ended = true;
      break;
    }
    sampler.accept(next);
    std::string piece = text.push(next);
    if (r.sampled == max_tokens) piece += text.flush();
    if (!on_token(next, piece) || r.sampled == max_tokens) break;
    logits = ctx.eval({&next, 1});
  }
  r.sample_seconds = seconds_since(t1);
  return r;
}

}  // namespace isomer
