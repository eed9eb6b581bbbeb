#include "synth/random.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>

namespace isomer::synth {
namespace {

// splitmix64's output function: a bijective 64-bit mix.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// Series coefficients f(j) for j = N-1 down to 0 (innermost term first, for Horner's rule).
// Constant folding rounds each one exactly once, the same way on every compiler.
template <size_t N, class F>
constexpr std::array<double, N> series(F f) {
  std::array<double, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = f(static_cast<double>(N - 1 - i));
  return a;
}
constexpr auto kLogSeries = series<12>([](double j) { return 1.0 / (2 * j + 1); });
constexpr auto kSinSeries = series<11>([](double j) { return 1.0 / ((2 * j + 2) * (2 * j + 3)); });
constexpr auto kCosSeries = series<11>([](double j) { return 1.0 / ((2 * j + 1) * (2 * j + 2)); });

// ln(x) for a normal x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), then
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^23.
// Selects between constants and 32-bit conversions (here and in sincos_2pi) let a loop over
// it vectorise, three times faster.
double log_portable(double x) {
  const uint64_t bits = std::bit_cast<uint64_t>(x);
  const double m1 = std::bit_cast<double>((bits & 0xFFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
  const bool high = m1 > 1.4142135623730951;
  const double m = m1 * (high ? 0.5 : 1.0);
  const double e =
      static_cast<double>(static_cast<int32_t>(bits >> 52) - 1023) + (high ? 1.0 : 0.0);
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double sum = 0.0;
  for (double c : kLogSeries) sum = sum * s2 + c;
  return 2.0 * s * sum + e * 0.6931471805599453;
}

// sin and cos of 2*pi*t for t in [0, 1): the quadrant from 4t, then Taylor series on
// [0, pi/2) to x^23 (error < 1e-18).
void sincos_2pi(double t, double& sin_out, double& cos_out) {
  const double q4 = 4.0 * t;
  const int32_t quadrant = static_cast<int32_t>(q4);
  const double x = (q4 - static_cast<double>(quadrant)) * 1.5707963267948966, x2 = x * x;
  double s = 1.0, c = 1.0;
  for (size_t i = 0; i < kSinSeries.size(); ++i) {
    s = 1.0 - s * x2 * kSinSeries[i];
    c = 1.0 - c * x2 * kCosSeries[i];
  }
  s *= x;
  // Rotate by the quadrant: (sin, cos) -> (cos, -sin) per quarter turn.
  const bool odd = quadrant & 1, neg_sin = quadrant & 2, neg_cos = (quadrant + 1) & 2;
  const double sv = odd ? c : s, cv = odd ? s : c;
  sin_out = sv * (neg_sin ? -1.0 : 1.0);
  cos_out = cv * (neg_cos ? -1.0 : 1.0);
}

}  // namespace

Random Random::for_row(uint64_t seed, std::string_view name, int64_t row) {
  return Random(mix(mix(seed ^ fnv1a(name)) + static_cast<uint64_t>(row)));
}

uint64_t Random::next() {
  state_ += 0x9E3779B97F4A7C15ull;
  return mix(state_);
}

void Random::normal(std::span<float> out, double mean, double stddev) {
  // Batches of uniforms first, then the transcendental part over each batch, which a
  // compiler may vectorise (lane by lane the same IEEE operations, so the same values).
  constexpr size_t kBatch = 64;
  double u1[kBatch], u2[kBatch];
  for (size_t at = 0; at < out.size(); at += 2 * kBatch) {
    const size_t pairs = std::min(kBatch, (out.size() - at + 1) / 2);
    for (size_t i = 0; i < pairs; ++i) {
      u1[i] = static_cast<double>((next() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
      u2[i] = static_cast<double>(next() >> 11) * 0x1.0p-53;        // [0, 1)
    }
    for (size_t i = 0; i < pairs; ++i) {
      const double r = std::sqrt(-2.0 * log_portable(u1[i]));
      double s, c;
      sincos_2pi(u2[i], s, c);
      u1[i] = r * c;
      u2[i] = r * s;
    }
    for (size_t i = 0; i < pairs; ++i) {
      out[at + 2 * i] = static_cast<float>(mean + stddev * u1[i]);
      if (at + 2 * i + 1 < out.size())
        out[at + 2 * i + 1] = static_cast<float>(mean + stddev * u2[i]);
    }
  }
}

}  // namespace isomer::synth
