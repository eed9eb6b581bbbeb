#include "tokenizer/unicode.h"

#include <array>

namespace isomer::tok {

std::vector<uint32_t> decode_utf8(std::string_view text) {
  std::vector<uint32_t> cpts;
  cpts.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<uint8_t>(text[i]);
    const size_t len = lead < 0x80 ? 1 : lead < 0xC0 ? 0 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : 0;
    bool complete = len > 0 && i + len <= text.size();
    for (size_t k = 1; complete && k < len; ++k)
      complete = (static_cast<uint8_t>(text[i + k]) & 0xC0) == 0x80;
    if (!complete) {
      cpts.push_back(kReplacementChar);
      ++i;
      continue;
    }
    uint32_t cpt = len == 1 ? lead : lead & (0xFFu >> (len + 1));
    for (size_t k = 1; k < len; ++k) cpt = (cpt << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3F);
    cpts.push_back(cpt);
    i += len;
  }
  return cpts;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt > 0x10FFFF) cpt = kReplacementChar;
  if (cpt < 0x80) {
    out += static_cast<char>(cpt);
  } else if (cpt < 0x800) {
    out += static_cast<char>(0xC0 | (cpt >> 6));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else if (cpt < 0x10000) {
    out += static_cast<char>(0xE0 | (cpt >> 12));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cpt >> 18));
    out += static_cast<char>(0x80 | ((cpt >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cpt >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cpt & 0x3F));
  }
}

bool is_whitespace(uint32_t cpt) {
  return (cpt >= 0x09 && cpt <= 0x0D) || cpt == 0x20 || cpt == 0x85 || cpt == 0xA0 ||
         cpt == 0x1680 || (cpt >= 0x2000 && cpt <= 0x200A) || cpt == 0x2028 || cpt == 0x2029 ||
         cpt == 0x202F || cpt == 0x205F || cpt == 0x3000;
}

namespace {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes
// map in order to U+0100 and up.
struct ByteAlphabet {
  std::array<std::string, 256> symbol;
  std::array<int16_t, 0x144> byte;  // indexed by code point; the stand-ins end below U+0144

  ByteAlphabet() {
    byte.fill(-1);
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const uint32_t cpt = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(symbol[b], cpt);
      byte[cpt] = static_cast<int16_t>(b);
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

}  // namespace

const std::string& byte_to_symbol(uint8_t byte) { return byte_alphabet().symbol[byte]; }

int symbol_to_byte(uint32_t cpt) {
  const auto& table = byte_alphabet().byte;
  return cpt < table.size() ? table[cpt] : -1;
}

size_t append_valid_utf8(std::string& out, std::string_view bytes, bool final) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<uint8_t>(bytes[i]);
    if (lead < 0x80) {
      out += bytes[i++];
      continue;
    }
    // Well-formed sequences per Unicode table 3-7: the second byte's range depends on the lead.
    size_t trail = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      trail = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      trail = 2;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      trail = 3;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    }
    size_t k = 1;
    for (; trail > 0 && k <= trail && i + k < bytes.size(); ++k) {
      const auto b = static_cast<uint8_t>(bytes[i + k]);
      if (b < lo || b > hi) break;
      lo = 0x80, hi = 0xBF;
    }
    if (trail > 0 && k > trail) {
      out.append(bytes.substr(i, k));
      i += k;
      continue;
    }
    if (trail > 0 && i + k == bytes.size() && !final) return i;  // may still complete
    out += kReplacement;
    i += k;
  }
  return i;
}

}  // namespace isomer::tok
