// RoPE rotation angles exactly as llama.cpp's ggml computes them (float arithmetic, the angle
// advanced by repeated multiplication, YaRN ramp and magnitude correction), so that every
// backend rotates by the same angles as the reference and as llama.cpp.
#pragma once

#include <isomer/ops/op.h>

namespace isomer {

// cos/sin pairs for one position: out[2 * i], out[2 * i + 1] for i in [0, n_rot / 2).
// freq_factors may be null.
void rope_angles(const RopeParams& p, int32_t position, const float* freq_factors, float* out);

}  // namespace isomer
