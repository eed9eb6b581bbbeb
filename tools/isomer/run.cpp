// `isomer run`: generate text from a prompt, streamed to stdout; speeds to stderr.
#include <isomer/error.h>
#include <isomer/sampler.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "model_options.h"

namespace isomer::cli {
namespace {

struct RunOptions {
  ModelOptions model;
  std::string prompt;
  int n_predict = 128;
  SamplerOptions sampling;
  bool seed_given = false;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

void add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt");
  auto o = std::make_shared<RunOptions>();
  o->model.add_to(*cmd, /*model_optional=*/true);
  auto& s = o->sampling;
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text")->required();
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--temp", s.temperature, "Temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-k", s.top_k, "Top-k (0: off)")->capture_default_str();
  cmd->add_option("--top-p", s.top_p, "Top-p (1: off)")->capture_default_str();
  cmd->add_option("--min-p", s.min_p, "Min-p (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", s.repeat_penalty, "Repetition penalty (1: off)")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", s.repeat_last_n, "Tokens the penalty looks back on")
      ->capture_default_str();
  auto* seed = cmd->add_option("--seed", s.seed, "Random seed (default: from the clock)");
  cmd->callback([o, seed] {
    if (!*seed) o->sampling.seed = static_cast<uint64_t>(
        std::chrono::high_resolution_clock::now().time_since_epoch().count());
    const auto model = o->model.load();
    const Tokenizer& tok = model->tokenizer();
    const std::vector<int32_t> prompt = tok.encode(o->prompt, true, true);
    if (prompt.empty()) fail("the prompt is empty and the model adds no BOS token");
    Context ctx(*model, o->model.context());
    const int64_t needed = static_cast<int64_t>(prompt.size()) + o->n_predict;
    if (needed > ctx.n_ctx())
      fail("prompt ({} tokens) + generation ({} tokens) = {} exceeds the context of {} tokens; "
           "use a shorter prompt, a smaller -n or a larger --ctx",
           prompt.size(), o->n_predict, needed, ctx.n_ctx());

    Sampler sampler(o->sampling);
    for (int32_t t : prompt) sampler.accept(t);
    fmt::print("{}", o->prompt);
    std::fflush(stdout);

    const auto t0 = std::chrono::steady_clock::now();
    auto logits = ctx.eval(prompt);
    const double prompt_s = seconds_since(t0);
    StreamDecoder out(tok);
    int generated = 0;
    const auto t1 = std::chrono::steady_clock::now();
    while (generated < o->n_predict) {
      const int32_t next = sampler.sample(logits);
      ++generated;
      if (tok.is_eog(next)) break;
      sampler.accept(next);
      fmt::print("{}", out.push(next));
      std::fflush(stdout);
      if (generated == o->n_predict) break;
      logits = ctx.eval({&next, 1});
    }
    const double gen_s = seconds_since(t1);
    fmt::print("{}\n", out.flush());
    fmt::print(stderr, "\n{}: {}\n", model->device().properties().id, o->model.path);
    ModelOptions::report_fallbacks(ctx);
    fmt::print(stderr, "prompt:     {:>5} tokens in {:>8.3f} s = {:>9.2f} tokens/s\n",
               prompt.size(), prompt_s, static_cast<double>(prompt.size()) / prompt_s);
    fmt::print(stderr, "generation: {:>5} tokens in {:>8.3f} s = {:>9.2f} tokens/s\n", generated,
               gen_s, generated > 0 ? generated / gen_s : 0.0);
  });
}

}  // namespace isomer::cli
