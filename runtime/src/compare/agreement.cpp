#include <isomer/agreement.h>
#include <isomer/error.h>
#include <isomer/sampler.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace isomer::agreement {

double log_sum_exp(std::span<const float> row) {
  double max = -INFINITY;
  for (float v : row) max = std::max(max, double{v});
  double sum = 0;
  for (float v : row) sum += std::exp(double{v} - max);
  return max + std::log(sum);
}

std::vector<TopLogit> top_k(std::span<const float> row, size_t k) {
  std::vector<TopLogit> all(row.size());
  for (size_t i = 0; i < row.size(); ++i) all[i] = {static_cast<int32_t>(i), row[i]};
  k = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                    [](const TopLogit& a, const TopLogit& b) {
                      return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
                    });
  all.resize(k);
  return all;
}

Position compare(std::span<const TopLogit> ref_top, double ref_lse, std::span<const float> row,
                 double clear_margin) {
  if (ref_top.size() < 2) fail("agreement: the reference needs at least two logits per position");
  Position a;
  const double lse = log_sum_exp(row);
  a.lse_error = std::abs(lse - ref_lse);
  double ref_z = 0, z = 0;
  for (const TopLogit& t : ref_top) {
    const double logit = row[static_cast<size_t>(t.id)];
    a.max_logit_error = std::max(a.max_logit_error, std::abs(logit - t.logit));
    ref_z += std::exp(t.logit - ref_lse);
    z += std::exp(logit - lse);
  }
  for (const TopLogit& t : ref_top) {
    const double lp = t.logit - ref_lse - std::log(ref_z);
    const double lq = row[static_cast<size_t>(t.id)] - lse - std::log(z);
    a.kl += std::exp(lp) * (lp - lq);
  }
  a.kl = std::max(a.kl, 0.0);  // rounding can leave a tiny negative sum
  if (ref_top[0].logit - ref_top[1].logit > clear_margin) {
    a.counted = true;
    a.agreed = argmax(row) == ref_top[0].id;
  }
  return a;
}

double nmse(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) fail("nmse: {} values against {}", a.size(), b.size());
  double err = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double{a[i]} - double{b[i]};
    err += d * d;
    ref += double{b[i]} * double{b[i]};
  }
  if (ref == 0) return err == 0 ? 0 : std::numeric_limits<double>::infinity();
  if (std::isnan(err)) return std::numeric_limits<double>::infinity();
  return err / ref;
}

}  // namespace isomer::agreement
