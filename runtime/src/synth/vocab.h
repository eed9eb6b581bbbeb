// Synthetic byte-level BPE vocabularies (GGUF `tokenizer.ggml.model` = "gpt2"): GPT-2's 256
// byte tokens, merges learned on a built-in text, the special tokens of the model imitated at
// their real ids, and "<|reserved_N|>" control tokens filling the rest of the vocabulary.
#pragma once

#include <isomer/tokenizer.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace isomer::synth {

struct SpecialToken {
  std::string text;
  TokenType type = TokenType::Control;
};

struct VocabSpec {
  int64_t size = 0;
  int64_t first_special = 0;  // id of specials[0]; the specials take consecutive ids
  std::vector<SpecialToken> specials;
};

struct Vocab {
  std::vector<std::string> tokens;  // in GPT-2's byte-to-unicode form (BPE), or SentencePiece's
  std::vector<int32_t> types;       // TokenType values
  std::vector<std::string> merges;  // "left right", by rank (BPE only)
  std::vector<float> scores;        // SentencePiece only: higher merges first
};

// The built-in training text.
std::string_view training_text();

// Learns as many merges as fit below `first_special` (or as the text supports: merges of
// pairs seen at least twice) and lays out the vocabulary. Deterministic.
Vocab build_vocab(const VocabSpec& spec);

// A SentencePiece-style vocabulary (`tokenizer.ggml.model` = "llama") from the same training:
// <unk>, <s>, </s> at ids 0-2, the 256 byte-fallback tokens <0x00>..<0xFF>, the printable
// ASCII characters, then every learned token that is valid UTF-8 without control characters,
// spaces written as U+2581, scored by when it was learned (earlier: higher); `specials` from
// `first_special` and "<|reserved_N|>" control tokens fill the rest. Deterministic.
Vocab build_spm_vocab(const VocabSpec& spec);

}  // namespace isomer::synth
