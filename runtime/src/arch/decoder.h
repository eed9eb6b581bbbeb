// The dense decoder-only transformer that Llama and Qwen models share: pre-norm attention with
// RoPE and grouped KV heads, then a SwiGLU feed-forward block. Architectures differ only in
// the options below (and in their tensor names, which GGUF keeps identical across them).
#pragma once

#include "arch/architecture.h"

namespace isomer {

struct DecoderSpec {
  RopeMode rope_mode = RopeMode::Adjacent;
  bool qkv_bias = false;  // Qwen2: biases on the Q, K and V projections
  bool qk_norm = false;   // Qwen3: RMSNorm of each Q and K head before RoPE
};

void build_decoder(GraphBuilder& b, const DecoderSpec& spec);

}  // namespace isomer
