// How far one backend's logits are from a reference's, one position at a time: the metrics
// the fidelity tests (against llama.cpp's top-K reference files) and `isomer compare`
// (against another backend's full logits) share.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace isomer::agreement {

struct TopLogit {
  int32_t id = 0;
  double logit = 0;
};

// log(sum(exp(row))), computed stably.
double log_sum_exp(std::span<const float> row);
// The k largest logits of `row`, largest first (all of them when k >= row.size()).
std::vector<TopLogit> top_k(std::span<const float> row, size_t k);

struct Position {
  double lse_error = 0;        // |lse(row) - ref_lse|
  double max_logit_error = 0;  // largest |row[id] - ref logit| over the reference's ids
  // KL(reference || row) over the reference's ids, each side renormalised there (the full
  // distribution when `ref_top` lists the whole vocabulary).
  double kl = 0;
  // Whether the reference's first choice is clear (its margin over the second exceeds
  // `clear_margin`), and if so whether row's argmax agrees.
  bool counted = false, agreed = false;
};

// `ref_top`: the reference's logits for some ids, largest first (at least two).
Position compare(std::span<const TopLogit> ref_top, double ref_lse, std::span<const float> row,
                 double clear_margin);

// Normalised mean squared error sum((a-b)^2) / sum(b^2) of `a` against the reference `b`
// (0 when both are zero; infinity when only the reference is).
double nmse(std::span<const float> a, std::span<const float> b);

}  // namespace isomer::agreement
