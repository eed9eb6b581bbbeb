// Llama 2/3, TinyLlama, SmolLM, TinyStories: RoPE on adjacent pairs, no biases. Llama 3.1+
// files carry `rope_freqs.weight`, which the decoder applies when present.
#include "arch/decoder.h"

namespace isomer {

void build_llama(GraphBuilder& b) { build_decoder(b, {.rope_mode = RopeMode::Adjacent}); }

}  // namespace isomer
