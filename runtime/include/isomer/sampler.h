// Token sampling with llama.cpp's default chain: repetition penalty, then top-k, top-p,
// min-p and temperature, then a seeded draw. Temperature <= 0 is greedy (argmax).
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

namespace isomer {

// The first index of the largest logit (greedy decoding); isomer::Error when there are none.
int32_t argmax(std::span<const float> logits);

struct SamplerOptions {
  float temperature = 0.8f;
  int top_k = 40;             // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int repeat_last_n = 64;     // how many recent tokens the penalty looks at
  uint64_t seed = 0;
};

class Sampler {
 public:
  // isomer::Error for out-of-range options (negative temperature is allowed: greedy).
  explicit Sampler(const SamplerOptions& options);
  // Picks the next token from one row of logits.
  int32_t sample(std::span<const float> logits);
  // Records a token of the sequence (prompt or generated) for the repetition penalty.
  void accept(int32_t token);

 private:
  struct Candidate {
    int32_t id;
    float logit;
    float p;
  };
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<Candidate> candidates_;
};

}  // namespace isomer
