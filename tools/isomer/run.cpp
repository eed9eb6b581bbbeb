// `isomer run`: generate text from a prompt, streamed to stdout; speeds to stderr.
#include <isomer/error.h>
#include <isomer/generate.h>
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
    const std::vector<int32_t> prompt = model->tokenizer().encode(o->prompt, true, true);
    if (prompt.empty()) fail("the prompt is empty and the model adds no BOS token");
    Context ctx(*model, o->model.context());
    Sampler sampler(o->sampling);
    fmt::print("{}", o->prompt);
    std::fflush(stdout);
    const GenerateResult r = generate(ctx, sampler, prompt, o->n_predict, [](int32_t, std::string_view text) {
      fmt::print("{}", text);
      std::fflush(stdout);
      return true;
    });
    fmt::print("\n");
    fmt::print(stderr, "\n{}: {}\n", model->device().properties().id, o->model.path);
    ModelOptions::report_fallbacks(ctx);
    fmt::print(stderr, "prompt:     {:>5} tokens in {:>8.3f} s = {:>9.2f} tokens/s\n",
               prompt.size(), r.prompt_seconds, static_cast<double>(prompt.size()) / r.prompt_seconds);
    fmt::print(stderr, "generation: {:>5} tokens in {:>8.3f} s = {:>9.2f} tokens/s\n", r.sampled,
               r.sample_seconds, r.sampled > 0 ? r.sampled / r.sample_seconds : 0.0);
  });
}

}  // namespace isomer::cli
