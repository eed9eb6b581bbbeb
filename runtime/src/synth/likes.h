// The real models synthetic files imitate: shapes, hyper-parameters and tokenizer layout,
// as llama.cpp's convert_hf_to_gguf.py writes them for the Hugging Face originals.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "synth/vocab.h"

namespace isomer::synth {

struct Like {
  std::string_view name, arch, description, default_type;
  std::string_view general_name, size_label;
  int n_layer = 0;
  int64_t n_embd = 0;
  int n_head = 0, n_head_kv = 0, head_dim = 0;
  int64_t n_ff = 0, n_ctx = 0;
  float rope_base = 10000.0f, norm_eps = 1e-5f;
  bool tied = false;
  bool qkv_bias = false;        // qwen2: biases on Q, K and V
  bool qk_norm = false;         // qwen3: per-head RMSNorm of Q and K
  bool head_dim_keys = false;   // writes attention.key_length / value_length
  bool llama_keys = false;      // writes vocab_size and rope.dimension_count
  bool llama3_rope = false;     // rope_freqs.weight from Llama 3's long-context rule
  VocabSpec vocab;
  bool spm = false;             // a SentencePiece ("llama") vocabulary, else byte-level BPE
  std::string_view pre;         // tokenizer.ggml.pre
  int32_t bos = -1, eos = -1, eot = -1, pad = -1;
  bool add_bos = false;
  std::string_view chat_template;
};

const std::vector<Like>& like_table();

}  // namespace isomer::synth
