// A portable pseudo-random generator for synthetic weights: splitmix64 for bits, Box-Muller
// for normal values, with its logarithm, sine and cosine computed by fixed polynomials out of
// IEEE basic operations only (no libm, and this file is compiled without FMA contraction), so
// the same seed gives bit-identical weights on every platform and compiler.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace isomer::synth {

class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  // A stream that depends only on (seed, name, row): rows can be generated in any order or
  // in parallel, and one tensor's values do not depend on which other tensors the file has.
  static Random for_row(uint64_t seed, std::string_view name, int64_t row);

  uint64_t next();
  // Fills `out` with N(mean, stddev) values.
  void normal(std::span<float> out, double mean, double stddev);

 private:
  uint64_t state_;
};

}  // namespace isomer::synth
