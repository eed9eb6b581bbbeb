// Tokenizers built from a GGUF file's `tokenizer.ggml.*` metadata: SentencePiece-style
// (`llama`) and byte-level BPE (`gpt2`), with llama.cpp's pre-tokenizers, special tokens
// and byte fallback.
#pragma once

#include <isomer/gguf.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace isomer {

// GGUF `tokenizer.ggml.token_type` values.
enum class TokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

// Behaves as llama.cpp's llama_vocab (src/llama-vocab.cpp): same ids from encode(), same
// pieces, same special-token handling.
class Tokenizer {
 public:
  // Throws isomer::Error naming the file and the problem (missing or unknown model type,
  // unknown pre-tokenizer, inconsistent arrays, ...).
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);
  virtual ~Tokenizer() = default;

  // add_special: add BOS/EOS where the metadata asks for them (tokenizer.ggml.add_bos_token /
  // add_eos_token, with llama.cpp's defaults per model type).
  // parse_special: text of control tokens (e.g. "<|im_start|>") becomes the token. Text of
  // user-defined tokens (e.g. Qwen's "<think>") always does, as in llama.cpp.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // The bytes a token contributes to generated text. Control and unknown tokens give "" unless
  // render_special; user-defined tokens give their text; unused ones nothing. The bytes may be
  // part of a UTF-8 character (byte tokens).
  virtual std::string piece(int32_t token, bool render_special = false) const = 0;

  // llama.cpp's llama_detokenize(remove_special = false): the pieces concatenated, minus the
  // space a SentencePiece vocabulary adds in front of the first token, with the spaces before
  // punctuation and contractions removed where the vocabulary asks for it (HF's
  // clean_up_tokenization_spaces). Raw bytes: not necessarily valid UTF-8.
  std::string decode(std::span<const int32_t> tokens, bool render_special = false) const;

  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  int32_t bos() const { return bos_; }  // -1 when the vocabulary has none
  int32_t eos() const { return eos_; }
  // tokenizer.ggml.eot_token_id, else the first of llama.cpp's end-of-turn texts the vocabulary
  // has (<|eot_id|>, <|im_end|>, <|end|>, ...; llama.cpp takes whichever its hash map yields).
  int32_t eot() const { return eot_; }
  int32_t unk() const { return unk_; }
  // The id of the token spelled exactly `text`, -1 when there is none.
  int32_t find_token(std::string_view text) const;
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // End of generation: EOS, EOT, EOM, the FIM pad/repo/file-separator tokens, and every token
  // llama.cpp recognises by its text (<|im_end|>, <|endoftext|>, <|eot_id|>, <|end|>, </s>, ...).
  bool is_eog(int32_t id) const;
  const std::string& model() const { return model_; }  // "llama" or "gpt2"
  const std::string& pre() const { return pre_; }

 protected:
  Tokenizer() = default;

  // A stretch of the input: a special token (token >= 0) or text bytes [offset, offset + length).
  struct Fragment {
    int32_t token;
    size_t offset, length;
  };

  // Reads tokens, types and special tokens. The model's defaults (bos_, eos_, unk_, add_bos_,
  // add_eos_, add_space_prefix_, clean_spaces_) are set before and the metadata overrides them.
  void load_vocab(const gguf::File& file);
  // Splits out the special tokens found in `text` (llama.cpp's tokenizer_st_partition).
  // Control and unknown tokens only count when parse_special; user-defined ones always do.
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
  // piece() for every token type but NORMAL, which each model spells its own way.
  std::string non_normal_piece(int32_t id, bool render_special) const;
  void check_id(int32_t id) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct SpecialToken {
    int32_t id;
    bool rstrip;  // whitespace after it is dropped (llama.cpp's LLAMA_TOKEN_ATTR_RSTRIP)
  };

  std::string model_, pre_;
  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids_;
  std::vector<SpecialToken> specials_;  // control, user-defined and unknown; longest text first
  int32_t bos_ = -1, eos_ = -1, eot_ = -1, unk_ = -1;
  bool add_bos_ = false, add_eos_ = false;
  bool add_space_prefix_ = false;  // SentencePiece: a space in front of the text
  bool clean_spaces_ = false;
  std::vector<int32_t> eog_;  // sorted
};

// Turns a stream of tokens into text without ever splitting a UTF-8 character: bytes of an
// incomplete character are held back until the character is complete. Output is always valid
// UTF-8: bytes that cannot form a character (e.g. a lone lead byte followed by a space) become
// U+FFFD, one per maximal ill-formed sequence, as Python's errors="replace" (which is how
// llama.cpp's references render them).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool render_special = false)
      : tokenizer_(tokenizer), render_special_(render_special) {}
  std::string push(int32_t token);
  std::string flush();  // whatever is held back (an incomplete character at the end), as U+FFFD

 private:
  const Tokenizer& tokenizer_;
  bool render_special_;
  std::string pending_;
};

}  // namespace isomer
