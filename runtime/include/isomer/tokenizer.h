// Tokenizers built from a GGUF file's `tokenizer.ggml.*` metadata: SentencePiece-style
// (`llama`) and byte-level BPE (`gpt2`), with llama.cpp's pre-tokenizers, special tokens
// and byte fallback.
#pragma once

#include <isomer/gguf.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace isomer {

// GGUF `tokenizer.ggml.token_type` values.
enum class TokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

class Tokenizer {
 public:
  // Throws isomer::Error naming the file and the problem (missing or unknown model type,
  // unknown pre-tokenizer, inconsistent arrays, ...).
  static std::unique_ptr<Tokenizer> from_gguf(const gguf::File& file);
  virtual ~Tokenizer() = default;

  // add_special: add BOS/EOS where the metadata asks for them (tokenizer.ggml.add_bos_token /
  // add_eos_token, with llama.cpp's defaults per model type).
  // parse_special: text of control/user-defined tokens (e.g. "<|im_start|>") becomes the token.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // The bytes a token contributes to generated text. Control tokens give "" unless
  // render_special. The bytes may be part of a UTF-8 character (byte tokens).
  virtual std::string piece(int32_t token, bool render_special = false) const = 0;

  std::string decode(std::span<const int32_t> tokens, bool render_special = false) const;

  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  const std::string& token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  int32_t bos() const { return bos_; }  // -1 when the vocabulary has none
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // End of generation: EOS, EOT or another end-of-generation token of the vocabulary.
  bool is_eog(int32_t id) const;
  const std::string& model() const { return model_; }  // "llama" or "gpt2"
  const std::string& pre() const { return pre_; }

 protected:
  Tokenizer() = default;
  std::string model_, pre_;
  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  int32_t bos_ = -1, eos_ = -1, eot_ = -1;
  bool add_bos_ = false, add_eos_ = false;
  std::vector<int32_t> eog_;
};

// Turns a stream of tokens into text without ever splitting a UTF-8 character: bytes of an
// incomplete character are held back until the character is complete.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  std::string push(int32_t token);
  std::string flush();  // whatever is held back (an incomplete character at the end)

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

}  // namespace isomer
