// A small deterministic BPE trainer: GPT-2-like pre-tokenization into words, then repeated
// merging of the most frequent adjacent pair (ties broken by the pair's text), as the
// Hugging Face and tiktoken trainers do, over the words of training_text().
#include "synth/vocab.h"

#include <isomer/error.h>

#include <fmt/format.h>

#include <array>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace isomer::synth {
namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's bytes_to_unicode(), in its order: printable bytes map to themselves, the others to
// U+0100 onwards. Token ids 0..255 follow this order, as in GPT-2, Qwen and Llama 3.
struct ByteTokens {
  std::array<uint8_t, 256> byte_of_id{};
  std::array<int32_t, 256> id_of_byte{};
  std::array<std::string, 256> text_of_byte;

  ByteTokens() {
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int id = 0, extra = 0;
    for (int b = 0; b < 256; ++b)
      if (printable(b)) add(id++, b, static_cast<uint32_t>(b));
    for (int b = 0; b < 256; ++b)
      if (!printable(b)) add(id++, b, 256 + static_cast<uint32_t>(extra++));
  }
  void add(int id, int b, uint32_t cp) {
    byte_of_id[id] = static_cast<uint8_t>(b);
    id_of_byte[b] = id;
    text_of_byte[b] = utf8(cp);
  }
};

const ByteTokens& byte_tokens() {
  static const ByteTokens table;
  return table;
}

enum class Class { Letter, Digit, Space, Other };

Class classify(unsigned char c) {
  if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return Class::Letter;
  if (c >= '0' && c <= '9') return Class::Digit;
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return Class::Space;
  return Class::Other;
}

// Approximately GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
// \s+(?!\S)|\s+  with every non-ASCII byte counted as a letter: words to learn merges within.
std::map<std::string, int64_t> count_words(std::string_view text) {
  std::map<std::string, int64_t> words;
  const size_t n = text.size();
  auto cls = [&](size_t i) { return classify(static_cast<unsigned char>(text[i])); };
  auto run_end = [&](size_t i, Class c) {
    while (i < n && cls(i) == c) ++i;
    return i;
  };
  for (size_t i = 0; i < n;) {
    size_t end = i;
    if (text[i] == '\'' && i + 1 < n) {
      for (std::string_view suffix : {"s", "t", "m", "d", "re", "ve", "ll"})
        if (text.substr(i + 1, suffix.size()) == suffix) {
          end = i + 1 + suffix.size();
          break;
        }
    }
    if (end == i) {
      if (text[i] == ' ' && i + 1 < n && cls(i + 1) != Class::Space) {
        end = run_end(i + 1, cls(i + 1));
      } else if (cls(i) != Class::Space) {
        end = run_end(i, cls(i));
      } else {
        end = run_end(i, Class::Space);
        // Leave a space before a word to that word, as (?!\S) does.
        if (end < n && end - i > 1 && text[end - 1] == ' ') --end;
      }
    }
    ++words[std::string(text.substr(i, end - i))];
    i = end;
  }
  return words;
}

struct Training {
  std::vector<std::string> tokens;  // 256 bytes, then each new token in creation order
  struct Merge {
    int32_t left, right, result;
  };
  std::vector<Merge> merges;
};

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// All merges the training text supports, computed once: a vocabulary with room for fewer
// new tokens takes a prefix, which is exactly what training with that limit would give.
const Training& training() {
  static const Training result = [] {
    const ByteTokens& bytes = byte_tokens();
    Training t;
    std::unordered_map<std::string, int32_t> id_of;
    for (int id = 0; id < 256; ++id) {
      t.tokens.push_back(bytes.text_of_byte[bytes.byte_of_id[id]]);
      id_of.emplace(t.tokens.back(), id);
    }
    struct Word {
      std::vector<int32_t> symbols;
      int64_t count;
    };
    std::vector<Word> words;
    for (const auto& [text, count] : count_words(training_text())) {
      Word w{{}, count};
      for (unsigned char c : text) w.symbols.push_back(bytes.id_of_byte[c]);
      words.push_back(std::move(w));
    }
    std::unordered_map<uint64_t, int64_t> pairs;
    auto tally = [&](const Word& w, int64_t sign) {
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i)
        pairs[pair_key(w.symbols[i], w.symbols[i + 1])] += sign * w.count;
    };
    for (const Word& w : words) tally(w, 1);

    for (;;) {
      uint64_t best = 0;
      int64_t best_count = 1;  // a pair must occur at least twice to be worth a token
      auto text_of = [&](uint64_t key) {
        return std::pair<const std::string&, const std::string&>(
            t.tokens[static_cast<uint32_t>(key >> 32)], t.tokens[static_cast<uint32_t>(key)]);
      };
      for (const auto& [key, count] : pairs)
        if (count > best_count || (count == best_count && best_count > 1 &&
                                   text_of(key) < text_of(best))) {
          best = key;
          best_count = count;
        }
      if (best_count < 2) break;
      const int32_t left = static_cast<int32_t>(best >> 32);
      const int32_t right = static_cast<int32_t>(static_cast<uint32_t>(best));
      const std::string merged = t.tokens[left] + t.tokens[right];
      const auto [it, added] = id_of.emplace(merged, static_cast<int32_t>(t.tokens.size()));
      if (added) t.tokens.push_back(merged);
      t.merges.push_back({left, right, it->second});

      for (Word& w : words) {
        bool has = false;
        for (size_t i = 0; i + 1 < w.symbols.size() && !has; ++i)
          has = w.symbols[i] == left && w.symbols[i + 1] == right;
        if (!has) continue;
        tally(w, -1);
        std::vector<int32_t> out;
        for (size_t i = 0; i < w.symbols.size(); ++i) {
          if (i + 1 < w.symbols.size() && w.symbols[i] == left && w.symbols[i + 1] == right) {
            out.push_back(it->second);
            ++i;
          } else {
            out.push_back(w.symbols[i]);
          }
        }
        w.symbols = std::move(out);
        tally(w, 1);
      }
      std::erase_if(pairs, [](const auto& p) { return p.second == 0; });
    }
    return t;
  }();
  return result;
}

// Whether `s` is well-formed UTF-8 (no overlong forms or surrogates) without C0 controls.
bool printable_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c < 0x80) { ++i; continue; }
    const int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? (c <= 0xEF ? 3 : 0) : c >= 0xC2 ? 2 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = c & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += len;
  }
  return true;
}

}  // namespace

Vocab build_spm_vocab(const VocabSpec& spec) {
  const Training& t = training();
  const ByteTokens& bytes = byte_tokens();
  // Each training token's bytes: the 256 byte tokens, then merges in creation order.
  std::vector<std::string> raw(t.tokens.size());
  for (int id = 0; id < 256; ++id) raw[id] = std::string(1, static_cast<char>(bytes.byte_of_id[id]));
  for (const auto& m : t.merges)
    if (raw[m.result].empty()) raw[m.result] = raw[m.left] + raw[m.right];
  auto piece = [](std::string_view text) {
    std::string out;
    for (char c : text) out += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
    return out;
  };
  Vocab v;
  auto add = [&](std::string text, TokenType type, float score) {
    v.tokens.push_back(std::move(text));
    v.types.push_back(static_cast<int32_t>(type));
    v.scores.push_back(score);
  };
  add("<unk>", TokenType::Unknown, 0);
  add("<s>", TokenType::Control, 0);
  add("</s>", TokenType::Control, 0);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), TokenType::Byte, 0);
  std::unordered_set<std::string> seen(v.tokens.begin(), v.tokens.end());
  // Single characters: never the result of a merge, so their scores do not matter.
  for (int c = 0x20; c < 0x7F; ++c) {
    std::string text = piece(std::string(1, static_cast<char>(c)));
    if (seen.insert(text).second) add(std::move(text), TokenType::Normal, -1e6f);
  }
  for (size_t id = 256; id < raw.size(); ++id) {
    if (static_cast<int64_t>(v.tokens.size()) >= spec.first_special) break;
    if (!printable_utf8(raw[id])) continue;
    std::string text = piece(raw[id]);
    if (seen.insert(text).second)
      add(std::move(text), TokenType::Normal, -static_cast<float>(id - 256));
  }
  int reserved = 0;
  auto fill_to = [&](int64_t end) {
    while (static_cast<int64_t>(v.tokens.size()) < end)
      add("<|reserved_" + std::to_string(reserved++) + "|>", TokenType::Control, 0);
  };
  fill_to(spec.first_special);
  for (const auto& s : spec.specials) add(s.text, s.type, 0);
  fill_to(spec.size);
  if (static_cast<int64_t>(v.tokens.size()) != spec.size)
    fail("synthetic vocabulary: {} tokens do not fit in {}", v.tokens.size(), spec.size);
  return v;
}

Vocab build_vocab(const VocabSpec& spec) {
  const int64_t n_special = static_cast<int64_t>(spec.specials.size());
  if (spec.first_special < 256 || spec.first_special + n_special > spec.size)
    fail("synthetic vocabulary: {} special tokens from id {} do not fit in {} tokens after the "
         "256 byte tokens", n_special, spec.first_special, spec.size);
  const Training& t = training();
  Vocab v;
  // Learned tokens up to the first special id; merges up to the first that needs a token
  // beyond that.
  const size_t learned = std::min<size_t>(t.tokens.size(), spec.first_special);
  v.tokens.assign(t.tokens.begin(), t.tokens.begin() + static_cast<ptrdiff_t>(learned));
  v.types.assign(learned, static_cast<int32_t>(TokenType::Normal));
  for (const auto& m : t.merges) {
    if (static_cast<size_t>(m.result) >= learned) break;
    v.merges.push_back(t.tokens[m.left] + " " + t.tokens[m.right]);
  }
  int reserved = 0;
  auto fill_to = [&](int64_t end) {
    while (static_cast<int64_t>(v.tokens.size()) < end) {
      v.tokens.push_back("<|reserved_" + std::to_string(reserved++) + "|>");
      v.types.push_back(static_cast<int32_t>(TokenType::Control));
    }
  };
  fill_to(spec.first_special);
  for (const auto& s : spec.specials) {
    v.tokens.push_back(s.text);
    v.types.push_back(static_cast<int32_t>(s.type));
  }
  fill_to(spec.size);

  std::unordered_set<std::string_view> seen;
  for (const auto& token : v.tokens)
    if (!seen.insert(token).second)
      fail("synthetic vocabulary: token '{}' appears twice", token);
  return v;
}

}  // namespace isomer::synth
