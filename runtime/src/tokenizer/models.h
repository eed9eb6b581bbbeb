// The tokenizer models behind Tokenizer::from_gguf().
#pragma once

#include <isomer/tokenizer.h>

#include <memory>

namespace isomer::tok {

// tokenizer.ggml.model == "llama": SentencePiece BPE (llama.cpp's llm_tokenizer_spm).
std::unique_ptr<Tokenizer> make_spm_tokenizer(const gguf::File& file);
// tokenizer.ggml.model == "gpt2": byte-level BPE (llama.cpp's llm_tokenizer_bpe).
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const gguf::File& file);

}  // namespace isomer::tok
