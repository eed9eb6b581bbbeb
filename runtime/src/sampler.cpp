#include <isomer/error.h>
#include <isomer/sampler.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace isomer {

int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) fail("argmax: no logits");
  // Sixteen running maxima, each with the first index it was seen at: sixteen independent
  // chains of compares and conditional moves, where std::max_element is one chain, a compare
  // and branch per logit. Over qwen2.5's 151,936 logits, on an AMD Zen 5: 30 us against 108 us,
  // on the thread the others wait for.
  constexpr size_t kLanes = 16;
  const size_t n = logits.size(), lanes_end = std::min<size_t>(n, UINT32_MAX) / kLanes * kLanes;
  size_t best = 0, i = 0;
  if (lanes_end > 0) {
    float max[kLanes];
    uint32_t at[kLanes];
    for (size_t j = 0; j < kLanes; ++j) {
      max[j] = logits[j];
      at[j] = static_cast<uint32_t>(j);
    }
    for (i = kLanes; i < lanes_end; i += kLanes)
      for (size_t j = 0; j < kLanes; ++j) {
        const bool more = logits[i + j] > max[j];
        max[j] = more ? logits[i + j] : max[j];
        at[j] = more ? static_cast<uint32_t>(i + j) : at[j];
      }
    best = at[0];
    for (size_t j = 1; j < kLanes; ++j)
      if (max[j] > logits[best] || (max[j] == logits[best] && at[j] < best)) best = at[j];
  }
  for (; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return static_cast<int32_t>(best);
}

Sampler::Sampler(const SamplerOptions& options) : options_(options), rng_(options.seed) {
  if (!(options.top_p > 0.0f)) fail("top-p {} must be greater than 0", options.top_p);
  if (options.min_p > 1.0f) fail("min-p {} must be at most 1", options.min_p);
  if (!(options.repeat_penalty > 0.0f))
    fail("repeat penalty {} must be greater than 0", options.repeat_penalty);
  if (options.repeat_last_n < 0) fail("repeat-last-n {} is negative", options.repeat_last_n);
}

void Sampler::accept(int32_t token) {
  if (options_.repeat_last_n == 0) return;
  recent_.push_back(token);
  if (recent_.size() > static_cast<size_t>(options_.repeat_last_n)) recent_.pop_front();
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.empty()) fail("sampler: no logits");
  if (options_.temperature <= 0.0f && options_.repeat_penalty == 1.0f) return argmax(logits);
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    candidates_[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
  if (options_.repeat_penalty != 1.0f) {
    // As llama.cpp: each distinct recent token is penalised once, towards zero probability.
    std::vector<int32_t> seen(recent_.begin(), recent_.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen) {
      if (t < 0 || static_cast<size_t>(t) >= candidates_.size()) continue;
      float& l = candidates_[static_cast<size_t>(t)].logit;
      l = l > 0 ? l / options_.repeat_penalty : l * options_.repeat_penalty;
    }
  }
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (options_.temperature <= 0.0f)
    return std::min_element(candidates_.begin(), candidates_.end(), by_logit)->id;

  size_t n = candidates_.size();
  if (options_.top_k > 0) n = std::min(n, static_cast<size_t>(options_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<ptrdiff_t>(n),
                    candidates_.end(), by_logit);
  candidates_.resize(n);
  auto softmax = [&](float temperature) {
    const float max = candidates_.front().logit;
    double sum = 0;
    for (auto& c : candidates_) sum += (c.p = std::exp((c.logit - max) / temperature));
    for (auto& c : candidates_) c.p = static_cast<float>(c.p / sum);
  };
  softmax(1.0f);
  if (options_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = 0;
    while (keep < candidates_.size() && cum < options_.top_p) cum += candidates_[keep++].p;
    candidates_.resize(std::max<size_t>(1, keep));
  }
  if (options_.min_p > 0.0f) {
    const float floor = candidates_.front().p * options_.min_p;
    size_t keep = 1;
    while (keep < candidates_.size() && candidates_[keep].p >= floor) ++keep;
    candidates_.resize(keep);
  }
  softmax(options_.temperature);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double u = uniform(rng_);
  for (const auto& c : candidates_) {
    if ((u -= c.p) <= 0) return c.id;
  }
  return candidates_.back().id;
}

}  // namespace isomer
