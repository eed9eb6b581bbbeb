// RMSNorm's sum of squares in the order the reference computes it, so that backends which
// reproduce the reference's bits (the CPU backend) share one definition of that order.
#pragma once

#include <cstdint>

namespace isomer {

// Each square exact in double; element j added to partial sum j % 8 in order; the eight partial
// sums then added as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)). Eight independent chains
// of additions, where one chain element by element kept a decode row waiting on each addition.
double sum_of_squares(const float* x, int64_t n);

}  // namespace isomer
