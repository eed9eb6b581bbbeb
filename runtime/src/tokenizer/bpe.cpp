// Byte-level BPE vocabularies (tokenizer.ggml.model "gpt2"), as llama.cpp's llm_tokenizer_bpe:
// the pre-tokenizer splits the text into words spelled in GPT-2's byte alphabet, then adjacent
// symbols of each word merge in the order of tokenizer.ggml.merges.
#include "tokenizer/models.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

#include <isomer/error.h>

#include <algorithm>
#include <queue>

namespace isomer::tok {
namespace {

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(const gguf::File& file, std::string pre, const PreTokenizerSpec& spec)
      : pre_tokenizer_(spec), ignore_merges_(spec.ignore_merges) {
    model_ = "gpt2";
    pre_ = std::move(pre);
    bos_ = 11;  // llama.cpp's defaults for BPE vocabularies
    eos_ = 11;
    add_bos_ = spec.add_bos;
    clean_spaces_ = spec.clean_spaces;
    load_vocab(file);

    const auto merges = file.get_strings("tokenizer.ggml.merges");
    if (!merges) fail("{}: no tokenizer.ggml.merges (BPE merge rules)", file.path());
    // "left right" (split at the first space after the first byte) ranks by position; a rule
    // without a space is the empty pair, and the first of two equal rules counts.
    ranks_.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const std::string& rule = (*merges)[i];
      ranks_.emplace(rule.find(' ', 1) == std::string::npos ? std::string(" ") : rule, static_cast<int32_t>(i));
    }
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    if (add_special && add_bos_) out.push_back(bos_);
    for (const Fragment& f : split_special(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      for (const std::string& word : pre_tokenizer_.split(text.substr(f.offset, f.length))) {
        if (ignore_merges_) {
          if (const auto it = ids_.find(word); it != ids_.end()) {
            out.push_back(it->second);
            continue;
          }
        }
        merge(word, out);
      }
    }
    if (add_special && add_eos_) out.push_back(eos_);
    return out;
  }

  std::string piece(int32_t id, bool render_special) const override {
    check_id(id);
    if (types_[id] != TokenType::Normal) return non_normal_piece(id, render_special);
    const std::string& text = tokens_[id];
    std::string out;
    for (const uint32_t cpt : decode_utf8(text)) {
      if (const int byte = symbol_to_byte(cpt); byte >= 0) {
        out += static_cast<char>(byte);
        continue;
      }
      // Not in the byte alphabet: llama.cpp spells it out.
      std::string utf8;
      append_utf8(utf8, cpt);
      out += "[UNK_BYTE_0x";
      for (const char c : utf8) out += fmt::format("{:02x}", static_cast<uint8_t>(c));
      out += text + "]";
    }
    return out;
  }

 private:
  struct Symbol {
    size_t offset, size;
    int prev, next;
  };
  struct Bigram {
    int32_t rank;
    int left, right;
    size_t left_size, right_size;
  };
  struct BigramOrder {  // lowest rank first, then leftmost
    bool operator()(const Bigram& a, const Bigram& b) const {
      return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
  };

  void merge(const std::string& word, std::vector<int32_t>& out) const {
    std::vector<Symbol> symbols;
    for (size_t offset = 0; offset < word.size();) {
      const size_t size = std::min(utf8_len(word[offset]), word.size() - offset);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({offset, size, index - 1, offset + size == word.size() ? -1 : index + 1});
      offset += size;
    }

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    std::string pair;
    const auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const Symbol& l = symbols[left];
      const Symbol& r = symbols[right];
      pair.assign(word, l.offset, l.size).append(" ").append(word, r.offset, r.size);
      const auto it = ranks_.find(pair);
      if (it == ranks_.end()) return;
      queue.push({it->second, left, right, l.size, r.size});
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
      const Bigram bigram = queue.top();
      queue.pop();
      Symbol& left = symbols[bigram.left];
      Symbol& right = symbols[bigram.right];
      // Stale when either side has merged since: symbols only grow, or empty when absorbed.
      if (left.size != bigram.left_size || right.size != bigram.right_size) continue;
      left.size += right.size;
      right.size = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = bigram.left;
      try_add(left.prev, bigram.left);
      try_add(bigram.left, left.next);
    }

    for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
      const std::string_view piece = std::string_view(word).substr(symbols[i].offset, symbols[i].size);
      if (const auto it = ids_.find(piece); it != ids_.end()) {
        out.push_back(it->second);
        continue;
      }
      // llama.cpp's fallback: each byte that is itself a token, the others dropped.
      for (const char c : piece)
        if (const auto it = ids_.find(std::string_view(&c, 1)); it != ids_.end()) out.push_back(it->second);
    }
  }

  PreTokenizer pre_tokenizer_;
  bool ignore_merges_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ranks_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const gguf::File& file) {
  std::string pre = file.get_string("tokenizer.ggml.pre").value_or("");
  if (pre.empty()) pre = "default";  // llama.cpp warns and uses its default regexes
  const PreTokenizerSpec* spec = find_pre_tokenizer(pre);
  if (!spec)
    fail("{}: unknown BPE pre-tokenizer '{}' (tokenizer.ggml.pre); isomer knows: {}", file.path(), pre,
         known_pre_tokenizers());
  return std::make_unique<BpeTokenizer>(file, std::move(pre), *spec);
}

}  // namespace isomer::tok
