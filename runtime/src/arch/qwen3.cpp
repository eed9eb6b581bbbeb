// Qwen3: NeoX RoPE, no biases, per-head RMSNorm of Q and K; the head size comes from
// `attention.key_length` and may differ from n_embd / n_head.
#include "arch/decoder.h"

namespace isomer {

void build_qwen3(GraphBuilder& b) {
  build_decoder(b, {.rope_mode = RopeMode::HalfSplit, .qk_norm = true});
}

}  // namespace isomer
