// `isomer logits`: teacher-forced logits of a token sequence, in the JSON shape of llama.cpp
// reference files: per position the log-sum-exp and the top K [id, logit] pairs.
#include <isomer/error.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "model_options.h"

namespace isomer::cli {
namespace {

struct LogitsOptions {
  ModelOptions model;
  std::string prompt;
  std::vector<int32_t> tokens;
  int top = 32;
  bool json = false;
};

nlohmann::json position_json(std::span<const float> row, int top) {
  double max = -INFINITY;
  for (float v : row) max = std::max(max, double{v});
  double sum = 0;
  for (float v : row) sum += std::exp(double{v} - max);
  std::vector<int32_t> ids(row.size());
  std::iota(ids.begin(), ids.end(), 0);
  const size_t k = std::min(row.size(), static_cast<size_t>(top));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(k), ids.end(),
                    [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
  nlohmann::json top_json = nlohmann::json::array();
  for (size_t i = 0; i < k; ++i) top_json.push_back({ids[i], row[static_cast<size_t>(ids[i])]});
  return {{"lse", max + std::log(sum)}, {"top", std::move(top_json)}};
}

}  // namespace

void add_logits(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "logits", "Evaluate a sequence teacher-forced and print each position's logits");
  auto o = std::make_shared<LogitsOptions>();
  o->model.add_to(*cmd);
  auto* prompt = cmd->add_option("-p,--prompt", o->prompt, "Text, tokenized as `run` does");
  auto* tokens = cmd->add_option("--tokens", o->tokens, "Token ids, e.g. 1,2,3")->delimiter(',');
  prompt->excludes(tokens);
  cmd->add_option("--top", o->top, "Top logits per position")->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "JSON in the shape of ../shared/reference/*.json");
  cmd->callback([o, prompt, tokens] {
    if (!*prompt && !*tokens) fail("give the sequence with --prompt TEXT or --tokens 1,2,3");
    const auto model = o->model.load();
    std::vector<int32_t> ids = *tokens ? o->tokens : model->tokenizer().encode(o->prompt, true, true);
    if (ids.empty()) fail("the sequence is empty: nothing to evaluate");
    Context ctx(*model, o->model.context());
    const auto logits = ctx.eval(ids, /*all_logits=*/true);
    ModelOptions::report_fallbacks(ctx);
    const size_t n_vocab = static_cast<size_t>(model->config().n_vocab);
    nlohmann::json positions = nlohmann::json::array();
    for (size_t i = 0; i < ids.size(); ++i)
      positions.push_back(position_json(logits.subspan(i * n_vocab, n_vocab), o->top));
    if (o->json) {
      nlohmann::json out = {{"model", o->model.path},
                            {"peer", fmt::format("isomer {}", model->device().properties().id)},
                            {"prompt_tokens", ids},
                            {"n_vocab", n_vocab},
                            {"topk", o->top},
                            {"positions", std::move(positions)}};
      if (*prompt) out["prompt"] = o->prompt;
      fmt::print("{}\n", out.dump(1));
      return;
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto& p = positions[i];
      fmt::print("{:>4} token {:>7}  lse {:>10.4f}  top:", i, ids[i], p["lse"].get<double>());
      for (size_t j = 0; j < std::min<size_t>(5, p["top"].size()); ++j)
        fmt::print(" {}:{:.4f}", p["top"][j][0].get<int>(), p["top"][j][1].get<float>());
      fmt::print("\n");
    }
  });
}

}  // namespace isomer::cli
