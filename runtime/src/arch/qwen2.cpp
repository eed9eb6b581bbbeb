// Qwen2 / Qwen2.5: NeoX (half-split) RoPE and biases on the Q, K and V projections.
#include "arch/decoder.h"

namespace isomer {

void build_qwen2(GraphBuilder& b) {
  build_decoder(b, {.rope_mode = RopeMode::HalfSplit, .qkv_bias = true});
}

}  // namespace isomer
