#include "synth/likes.h"

#include <string>

namespace isomer::synth {
namespace {

constexpr std::string_view kChatMl =
    R"({%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\n' + )"
    R"(message['content'] + '<|im_end|>\n' }}{%- endfor %}{%- if add_generation_prompt %})"
    R"({{- '<|im_start|>assistant\n' }}{%- endif %})";

constexpr std::string_view kLlama3Chat =
    R"({{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + )"
    R"(message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }})"
    R"({%- endfor %}{%- if add_generation_prompt %})"
    R"({{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %})";

// Qwen2.5's added tokens from id 151643; llama.cpp's converter makes the ones that look like
// <|...|> control tokens and the others (tool calls, thinking) user-defined.
std::vector<SpecialToken> qwen_specials(bool qwen3) {
  std::vector<SpecialToken> s;
  for (const char* t :
       {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
        "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
        "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
        "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
        "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"})
    s.push_back({t});
  if (qwen3)
    for (const char* t : {"<tool_response>", "</tool_response>", "<think>", "</think>"})
      s.push_back({t});
  for (auto& t : s)
    if (!t.text.starts_with("<|")) t.type = TokenType::UserDefined;
  return s;
}

// Llama 3.1 / 3.2's 256 special tokens from id 128000, all control tokens.
std::vector<SpecialToken> llama3_specials() {
  std::vector<SpecialToken> s;
  for (const char* t : {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                        "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                        "<|reserved_special_token_2|>", "<|start_header_id|>",
                        "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"})
    s.push_back({t});
  for (int i = 3; i <= 247; ++i)
    s.push_back({"<|reserved_special_token_" + std::to_string(i) + "|>"});
  return s;
}

// TinyLlama-1.1B-Chat-v1.0's template (Zephyr's).
constexpr std::string_view kZephyrChat =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
    "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ "
    "'<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == "
    "'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif "
    "%}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% "
    "endfor %}";

std::vector<Like> make_table() {
  std::vector<Like> t;
  t.push_back({
      .name = "tiny",
      .arch = "llama",
      .description = "a tiny Llama for tests and the default model: 2 layers, d 64, 4 heads / "
                     "2 KV, ffn 172, vocab 1024, untied output",
      .default_type = "f32",
      .general_name = "Tiny",
      .size_label = "222K",
      .n_layer = 2,
      .n_embd = 64,
      .n_head = 4,
      .n_head_kv = 2,
      .head_dim = 16,
      .n_ff = 172,
      .n_ctx = 2048,
      .rope_base = 10000.0f,
      .norm_eps = 1e-5f,
      .llama_keys = true,
      .vocab = {.size = 1024,
                .first_special = 1020,
                // Names llama.cpp recognises as end of generation for EOS and EOT.
                .specials = {{"<|startoftext|>"}, {"<|endoftext|>"}, {"<|im_start|>"},
                             {"<|im_end|>"}}},
      .pre = "gpt-2",
      .bos = 1020,
      .eos = 1021,
      .eot = 1023,
      .add_bos = true,
      .chat_template = kChatMl,
  });
  t.push_back({
      .name = "qwen2.5-0.5b",
      .arch = "qwen2",
      .description = "Qwen2.5-0.5B-Instruct: 24 layers, d 896, 14 heads / 2 KV, ffn 4864, "
                     "vocab 151936, tied, QKV bias",
      .default_type = "q8_0",
      .general_name = "Qwen2.5 0.5B Instruct",
      .size_label = "0.5B",
      .n_layer = 24,
      .n_embd = 896,
      .n_head = 14,
      .n_head_kv = 2,
      .head_dim = 64,
      .n_ff = 4864,
      .n_ctx = 32768,
      .rope_base = 1000000.0f,
      .norm_eps = 1e-6f,
      .tied = true,
      .qkv_bias = true,
      .vocab = {.size = 151936, .first_special = 151643, .specials = qwen_specials(false)},
      .pre = "qwen2",
      .bos = 151643,
      .eos = 151645,
      .eot = 151645,
      .pad = 151643,
      .chat_template = kChatMl,
  });
  t.push_back({
      .name = "qwen3-0.6b",
      .arch = "qwen3",
      .description = "Qwen3-0.6B: 28 layers, d 1024, 16 heads / 8 KV, head 128, ffn 3072, "
                     "vocab 151936, tied, Q/K norm",
      .default_type = "q8_0",
      .general_name = "Qwen3 0.6B",
      .size_label = "0.6B",
      .n_layer = 28,
      .n_embd = 1024,
      .n_head = 16,
      .n_head_kv = 8,
      .head_dim = 128,
      .n_ff = 3072,
      .n_ctx = 40960,
      .rope_base = 1000000.0f,
      .norm_eps = 1e-6f,
      .tied = true,
      .qk_norm = true,
      .head_dim_keys = true,
      .vocab = {.size = 151936, .first_special = 151643, .specials = qwen_specials(true)},
      .pre = "qwen2",
      .bos = 151643,
      .eos = 151645,
      .eot = 151645,
      .pad = 151643,
      .chat_template = kChatMl,
  });
  t.push_back({
      .name = "llama-3.2-1b",
      .arch = "llama",
      .description = "Llama-3.2-1B-Instruct: 16 layers, d 2048, 32 heads / 8 KV, ffn 8192, "
                     "vocab 128256, tied, Llama 3 RoPE scaling",
      .default_type = "q8_0",
      .general_name = "Llama 3.2 1B Instruct",
      .size_label = "1B",
      .n_layer = 16,
      .n_embd = 2048,
      .n_head = 32,
      .n_head_kv = 8,
      .head_dim = 64,
      .n_ff = 8192,
      .n_ctx = 131072,
      .rope_base = 500000.0f,
      .norm_eps = 1e-5f,
      .tied = true,
      .head_dim_keys = true,
      .llama_keys = true,
      .llama3_rope = true,
      .vocab = {.size = 128256, .first_special = 128000, .specials = llama3_specials()},
      .pre = "llama-bpe",
      .bos = 128000,
      .eos = 128009,
      .eot = 128009,
      .add_bos = true,
      .chat_template = kLlama3Chat,
  });
  t.push_back({
      .name = "tinyllama-1.1b",
      .arch = "llama",
      .description = "TinyLlama-1.1B-Chat-v1.0: 22 layers, d 2048, 32 heads / 4 KV, ffn 5632, "
                     "vocab 32000 SentencePiece, untied output",
      .default_type = "q8_0",
      .general_name = "TinyLlama 1.1B Chat v1.0",
      .size_label = "1.1B",
      .n_layer = 22,
      .n_embd = 2048,
      .n_head = 32,
      .n_head_kv = 4,
      .head_dim = 64,
      .n_ff = 5632,
      .n_ctx = 2048,
      .rope_base = 10000.0f,
      .norm_eps = 1e-5f,
      .llama_keys = true,
      .vocab = {.size = 32000, .first_special = 32000, .specials = {}},
      .spm = true,
      .pre = "default",
      .bos = 1,
      .eos = 2,
      .pad = 2,
      .add_bos = true,
      .chat_template = kZephyrChat,
  });
  return t;
}

}  // namespace

const std::vector<Like>& like_table() {
  static const std::vector<Like> table = make_table();
  return table;
}

}  // namespace isomer::synth
