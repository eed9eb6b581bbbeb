// SentencePiece vocabularies (tokenizer.ggml.model "llama"), as llama.cpp's llm_tokenizer_spm:
// spaces become U+2581, adjacent symbols merge best score first, and what no token covers falls
// back to <0xXX> byte tokens.
#include "tokenizer/models.h"
#include "tokenizer/unicode.h"

#include <isomer/error.h>

#include <algorithm>
#include <array>
#include <queue>

namespace isomer::tok {
namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(const gguf::File& file) {
    model_ = "llama";
    pre_ = file.get_string("tokenizer.ggml.pre").value_or("");
    bos_ = 1;
    eos_ = 2;
    unk_ = 0;
    add_bos_ = true;
    add_space_prefix_ = true;
    load_vocab(file);

    scores_.assign(tokens_.size(), 0.0f);
    if (auto scores = file.get_floats("tokenizer.ggml.scores")) {
      if (scores->size() < tokens_.size())
        fail("{}: tokenizer.ggml.scores has {} entries for {} tokens", file.path(), scores->size(), tokens_.size());
      scores->resize(tokens_.size());
      scores_ = std::move(*scores);
    }
    // llama.cpp's byte_to_token(): <0xXX>, else the byte itself as a token.
    for (int b = 0; b < 256; ++b) {
      int32_t id = find_token(fmt::format("<0x{:02X}>", b));
      if (id < 0) id = find_token(std::string(1, static_cast<char>(b)));
      byte_tokens_[b] = id;
    }
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    if (add_special && add_bos_) out.push_back(bos_);
    bool after_special = true;  // the start of the text counts as following a special token
    std::string escaped;
    for (const Fragment& f : split_special(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        after_special = true;
        continue;
      }
      escaped.clear();
      if (add_space_prefix_ && after_special) escaped += kSpaceMarker;
      for (const char c : text.substr(f.offset, f.length)) {
        if (c == ' ')
          escaped += kSpaceMarker;
        else
          escaped += c;
      }
      tokenize(escaped, out);
      after_special = false;
    }
    if (add_special && add_eos_) out.push_back(eos_);
    return out;
  }

  std::string piece(int32_t id, bool render_special) const override {
    check_id(id);
    if (types_[id] != TokenType::Normal) return non_normal_piece(id, render_special);
    std::string out;
    const std::string& text = tokens_[id];
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
        out += ' ';
        i += kSpaceMarker.size();
      } else {
        out += text[i++];
      }
    }
    return out;
  }

 private:
  struct Symbol {
    size_t offset, size;
    int prev, next;
  };
  struct Bigram {
    float score;
    int left, right;
    size_t size;
  };
  struct BigramOrder {  // best score first, then leftmost
    bool operator()(const Bigram& a, const Bigram& b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };

  void tokenize(std::string_view text, std::vector<int32_t>& out) const {
    std::vector<Symbol> symbols;
    for (size_t offset = 0; offset < text.size();) {
      const size_t size = std::min(utf8_len(text[offset]), text.size() - offset);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({offset, size, index - 1, offset + size == text.size() ? -1 : index + 1});
      offset += size;
    }

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    const auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const auto it = ids_.find(text.substr(symbols[left].offset, symbols[left].size + symbols[right].size));
      if (it == ids_.end()) return;
      queue.push({scores_[it->second], left, right, symbols[left].size + symbols[right].size});
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
      const Bigram bigram = queue.top();
      queue.pop();
      Symbol& left = symbols[bigram.left];
      Symbol& right = symbols[bigram.right];
      if (left.size == 0 || right.size == 0 || left.size + right.size != bigram.size) continue;  // stale
      left.size += right.size;
      right.size = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = bigram.left;
      try_add(left.prev, bigram.left);
      try_add(bigram.left, left.next);
    }

    for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
      const std::string_view piece = text.substr(symbols[i].offset, symbols[i].size);
      if (const auto it = ids_.find(piece); it != ids_.end()) {
        out.push_back(it->second);
        continue;
      }
      for (const char c : piece) {
        const int32_t id = byte_tokens_[static_cast<uint8_t>(c)];
        if (id < 0) fail("SentencePiece vocabulary has no token for byte 0x{:02X}", static_cast<uint8_t>(c));
        out.push_back(id);
      }
    }
  }

  std::vector<float> scores_;
  std::array<int32_t, 256> byte_tokens_{};
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(const gguf::File& file) {
  return std::make_unique<SpmTokenizer>(file);
}

}  // namespace isomer::tok
