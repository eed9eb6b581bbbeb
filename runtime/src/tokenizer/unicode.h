// UTF-8 and GPT-2 byte-level helpers for the tokenizers, following llama.cpp's unicode.cpp
// wherever its behaviour decides token ids (lenient decoding, White_Space set, byte alphabet).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace isomer::tok {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Bytes of the UTF-8 sequence a lead byte announces, from its high nibble alone (1 for
// continuation and invalid bytes), as llama.cpp splits text into symbols.
inline size_t utf8_len(char lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[static_cast<uint8_t>(lead) >> 4];
}

// Code points of `text` decoded as llama.cpp does: lenient about overlong forms and surrogates,
// and each byte that starts no complete sequence becomes U+FFFD.
std::vector<uint32_t> decode_utf8(std::string_view text);

// Appends the UTF-8 encoding of `cpt`; values past U+10FFFF become U+FFFD.
void append_utf8(std::string& out, uint32_t cpt);

// Unicode White_Space (what llama.cpp's pre-tokenizers treat as \s).
bool is_whitespace(uint32_t cpt);

// GPT-2's byte-level alphabet: every byte has a printable stand-in character.
const std::string& byte_to_symbol(uint8_t byte);
// The byte a stand-in character represents, -1 for any other code point.
int symbol_to_byte(uint32_t cpt);

// Appends the well-formed UTF-8 of `bytes` to `out`, replacing each maximal ill-formed
// subsequence by U+FFFD (as Python's errors="replace"). A sequence cut short by the end of
// `bytes` is left unconsumed unless `final`. Returns the number of bytes consumed.
size_t append_valid_utf8(std::string& out, std::string_view bytes, bool final);

}  // namespace isomer::tok
