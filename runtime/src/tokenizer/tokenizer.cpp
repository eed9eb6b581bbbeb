// The model-independent half of the tokenizer: vocabulary and special tokens as llama.cpp's
// llama_vocab::impl::load() sets them up, special-token partitioning, detokenization and the
// streaming decoder.
#include <isomer/tokenizer.h>

#include "tokenizer/models.h"
#include "tokenizer/unicode.h"

#include <isomer/error.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

namespace isomer {
namespace {

// Tokens llama.cpp recognises by their text when the metadata does not name them. Each role
// takes the first listed text the vocabulary has, and the token becomes a control token.
struct Role {
  std::vector<std::string_view> keys;  // metadata keys naming the id; later ones win
  std::vector<std::string_view> texts;
  bool end_of_generation;
  bool is_eot = false;
};

const std::vector<Role>& roles() {
  static const std::vector<Role> table = {
      {{"tokenizer.ggml.eot_token_id"},
       {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
        "<EOT>", "_<EOT>", "[EOT]", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
        "<end_of_utterance>"},
       true, true},
      {{"tokenizer.ggml.eom_token_id"}, {"<|eom_id|>"}, true},
      {{"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"},
       {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
        "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>"},
       false},
      {{"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"},
       {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
        "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>"},
       false},
      {{"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"},
       {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>",
        "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"},
       false},
      {{"tokenizer.ggml.fim_pad_token_id"}, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}, true},
      {{"tokenizer.ggml.fim_rep_token_id"},
       {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"},
       true},
      {{"tokenizer.ggml.fim_sep_token_id"}, {"<|file_sep|>"}, true},
  };
  return table;
}

// Every token with one of these texts ends generation (and is a control token).
constexpr std::array<std::string_view, 15> kEndOfGenerationTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};

// The three passes of llama.cpp's detokenize() under clean_spaces, in place and in its order:
// " ?", " !", " .", " ," lose the space; " ' " becomes "'"; " 's", " 'm", " 're", " 've" lose
// the space.
void clean_up_spaces(std::string& s) {
  size_t total = s.empty() ? 0 : 1;
  for (size_t i = 1; i < s.size(); ++i) {
    const char x = s[i];
    if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    s[total++] = x;
  }
  s.resize(total);

  total = s.empty() ? 0 : 1;
  for (size_t i = 1; i < s.size(); ++i) {
    const char x = s[i];
    if (x == '\'' && i + 1 < s.size() && s[i - 1] == ' ' && s[i + 1] == ' ') {
      --total;
      s[++i] = '\0';  // the space after is skipped, and no longer counts as a space
    }
    s[total++] = x;
  }
  s.resize(total);

  total = s.empty() ? 0 : 1;
  for (size_t i = 1; i < s.size(); ++i) {
    const char x = s[i];
    if (s[i - 1] == ' ' && x == '\'' && i + 1 < s.size()) {
      const char x1 = s[i + 1];
      const bool re_ve = i + 2 < s.size() && (x1 == 'r' || x1 == 'v') && s[i + 2] == 'e';
      if (x1 == 's' || x1 == 'm' || re_ve) --total;
    }
    s[total++] = x;
  }
  s.resize(total);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  const auto model = file.get_string("tokenizer.ggml.model");
  if (!model) fail("{}: no tokenizer in the file (tokenizer.ggml.model is missing)", file.path());
  if (*model == "llama") return tok::make_spm_tokenizer(file);
  if (*model == "gpt2") return tok::make_bpe_tokenizer(file);
  fail("{}: unsupported tokenizer model '{}' (tokenizer.ggml.model); isomer supports 'llama' "
       "(SentencePiece) and 'gpt2' (byte-level BPE)",
       file.path(), *model);
}

void Tokenizer::load_vocab(const gguf::File& file) {
  const std::string& path = file.path();
  auto tokens = file.get_strings("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) fail("{}: no tokenizer.ggml.tokens", path);
  if (tokens->size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    fail("{}: {} tokens is more than token ids can number", path, tokens->size());
  const auto n = static_cast<int32_t>(tokens->size());
  tokens_ = std::move(*tokens);

  types_.assign(n, TokenType::Normal);
  if (const auto types = file.get_ints("tokenizer.ggml.token_type")) {
    if (types->size() < tokens_.size())
      fail("{}: tokenizer.ggml.token_type has {} entries for {} tokens", path, types->size(), n);
    for (int32_t i = 0; i < n; ++i) {
      const int64_t t = (*types)[i];
      types_[i] = t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::Undefined;
    }
  }

  ids_.reserve(tokens_.size());
  for (int32_t i = 0; i < n; ++i) {
    if (tokens_[i].empty()) tokens_[i] = fmt::format("[EMPTY_{}]", i);  // as llama.cpp names them
    const auto [it, inserted] = ids_.emplace(tokens_[i], i);
    if (!inserted)
      fail("{}: token '{}' appears twice in the vocabulary (ids {} and {})", path, tokens_[i], it->second, i);
  }

  // Ids from the metadata replace the model's defaults; out-of-range ones are ignored.
  const auto metadata_id = [&](std::string_view key, int32_t& id) {
    if (id >= n) id = -1;
    if (const auto v = file.get_int(key); v && *v >= 0 && *v < n) id = static_cast<int32_t>(*v);
  };
  metadata_id("tokenizer.ggml.bos_token_id", bos_);
  metadata_id("tokenizer.ggml.eos_token_id", eos_);
  metadata_id("tokenizer.ggml.unknown_token_id", unk_);

  if (const auto v = file.get_bool("tokenizer.ggml.add_bos_token")) add_bos_ = *v;
  if (const auto v = file.get_bool("tokenizer.ggml.add_eos_token")) add_eos_ = *v;
  if (const auto v = file.get_bool("tokenizer.ggml.add_space_prefix")) add_space_prefix_ = *v;
  if (add_bos_ && bos_ < 0) fail("{}: tokenizer.ggml.add_bos_token is true but there is no BOS token", path);
  if (add_eos_ && eos_ < 0) fail("{}: tokenizer.ggml.add_eos_token is true but there is no EOS token", path);

  eog_.clear();
  for (const Role& role : roles()) {
    int32_t id = -1;
    for (const auto key : role.keys) metadata_id(key, id);
    for (size_t i = 0; id < 0 && i < role.texts.size(); ++i) {
      if (const auto it = ids_.find(role.texts[i]); it != ids_.end()) {
        id = it->second;
        types_[id] = TokenType::Control;
      }
    }
    if (role.is_eot) eot_ = id;
    if (role.end_of_generation && id >= 0) eog_.push_back(id);
  }
  for (const auto text : kEndOfGenerationTexts) {
    if (const auto it = ids_.find(text); it != ids_.end()) {
      eog_.push_back(it->second);
      types_[it->second] = TokenType::Control;
    }
  }
  if (eos_ >= 0) eog_.push_back(eos_);
  std::sort(eog_.begin(), eog_.end());
  eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());

  specials_.clear();
  for (int32_t i = 0; i < n; ++i) {
    const TokenType t = types_[i];
    if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown)
      specials_.push_back({i, false});
  }
  std::stable_sort(specials_.begin(), specials_.end(), [&](const SpecialToken& a, const SpecialToken& b) {
    return tokens_[a.id].size() > tokens_[b.id].size();
  });

  // llama.cpp's per-model token attributes: Phi-3's special tokens swallow the whitespace after
  // them, except <unk>, <s> and <|endoftext|>.
  std::string name = file.get_string("general.name").value_or("");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (SpecialToken& s : specials_) {
      const std::string& text = tokens_[s.id];
      s.rstrip = text != "<unk>" && text != "<s>" && text != "<|endoftext|>";
    }
  }
}

std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text, bool parse_special) const {
  std::vector<Fragment> fragments, next;
  if (text.empty()) return fragments;
  fragments.push_back({-1, 0, text.size()});

  // Fragments are pieces of `text`: a token whose first byte is not in it cannot occur.
  std::array<bool, 256> present{};
  for (const char c : text) present[static_cast<uint8_t>(c)] = true;

  for (const SpecialToken& special : specials_) {
    const TokenType type = types_[special.id];
    if (!parse_special && (type == TokenType::Control || type == TokenType::Unknown)) continue;
    const std::string& needle = tokens_[special.id];
    if (!present[static_cast<uint8_t>(needle[0])]) continue;

    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t offset = f.offset, length = f.length;
      while (length > 0) {
        const size_t pos = text.substr(offset, length).find(needle);
        if (pos == std::string_view::npos) break;
        if (pos > 0) next.push_back({-1, offset, pos});
        next.push_back({special.id, 0, 0});
        offset += pos + needle.size();
        length -= pos + needle.size();
        while (special.rstrip && length > 0 && std::isspace(static_cast<unsigned char>(text[offset]))) {
          ++offset;
          --length;
        }
      }
      if (length > 0) next.push_back({-1, offset, length});
    }
    fragments.swap(next);
  }
  return fragments;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= n_vocab()) fail("token id {} is out of range (vocabulary of {} tokens)", id, n_vocab());
}

std::string Tokenizer::non_normal_piece(int32_t id, bool render_special) const {
  const std::string& text = tokens_[id];
  switch (types_[id]) {
    case TokenType::Control:
    case TokenType::Unknown:
      return render_special ? text : std::string();
    case TokenType::UserDefined:
      return text;
    case TokenType::Byte: {
      // "<0xXX>", read as llama.cpp's strtol(text.substr(3, 2)) does
      unsigned value = 0;
      if (text.size() > 3) std::from_chars(text.data() + 3, text.data() + std::min<size_t>(text.size(), 5), value, 16);
      return std::string(1, static_cast<char>(value));
    }
    default:
      return {};  // unused and undefined tokens render as nothing, as in llama.cpp
  }
}

std::string Tokenizer::decode(std::span<const int32_t> tokens, bool render_special) const {
  std::string text;
  bool remove_space = add_space_prefix_;  // only ever from the first token's piece
  for (const int32_t id : tokens) {
    const std::string p = piece(id, render_special);
    text.append(p, remove_space && !p.empty() && p[0] == ' ' ? 1 : 0);
    remove_space = false;
  }
  if (clean_spaces_) clean_up_spaces(text);
  return text;
}

const std::string& Tokenizer::token_text(int32_t id) const {
  check_id(id);
  return tokens_[id];
}

TokenType Tokenizer::token_type(int32_t id) const {
  check_id(id);
  return types_[id];
}

int32_t Tokenizer::find_token(std::string_view text) const {
  const auto it = ids_.find(text);
  return it == ids_.end() ? -1 : it->second;
}

bool Tokenizer::is_eog(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

std::string StreamDecoder::push(int32_t token) {
  pending_ += tokenizer_.piece(token, render_special_);
  std::string out;
  pending_.erase(0, tok::append_valid_utf8(out, pending_, false));
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  tok::append_valid_utf8(out, pending_, true);
  pending_.clear();
  return out;
}

}  // namespace isomer
