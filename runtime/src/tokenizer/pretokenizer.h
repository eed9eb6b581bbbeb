// Byte-level BPE pre-tokenization: llama.cpp's regex splits per `tokenizer.ggml.pre`, run with
// PCRE2, then each word spelled in GPT-2's byte-level alphabet.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;

namespace isomer::tok {

// What llama.cpp derives from a `tokenizer.ggml.pre` name.
struct PreTokenizerSpec {
  std::vector<std::string_view> names;
  std::vector<std::string_view> regexes;  // applied in turn, each refining the previous split
  bool clean_spaces = true;    // detokenizer tidies " ," " 's" ... (HF clean_up_tokenization_spaces)
  bool ignore_merges = false;  // a word that is a whole token is taken as is
  bool add_bos = false;        // default of tokenizer.ggml.add_bos_token
};

// The spec for a pre-tokenizer name, nullptr when llama.cpp (as far as isomer follows it)
// does not know the name.
const PreTokenizerSpec* find_pre_tokenizer(std::string_view name);
// All known names, for error messages.
std::string known_pre_tokenizers();

class PreTokenizer {
 public:
  explicit PreTokenizer(const PreTokenizerSpec& spec);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;

  // The words of `text`, each in the byte-level alphabet, ready for BPE merges.
  std::vector<std::string> split(std::string_view text) const;

 private:
  struct CodeDeleter {
    void operator()(pcre2_real_code_8* code) const;
  };
  std::vector<std::unique_ptr<pcre2_real_code_8, CodeDeleter>> regexes_;
};

}  // namespace isomer::tok
