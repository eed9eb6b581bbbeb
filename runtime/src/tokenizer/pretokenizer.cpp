#include "tokenizer/pretokenizer.h"

#include "tokenizer/unicode.h"

#include <isomer/error.h>

#include <pcre2.h>

#include <utility>

namespace isomer::tok {
namespace {

// llama.cpp's regexes (llm_tokenizer_bpe), verbatim except where noted. llama.cpp runs them with
// std::regex on text where every non-ASCII code point is collapsed to a byte naming its
// category; PCRE2 with Unicode properties sees the same classes, and split() below feeds it the
// same whitespace.

constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";

constexpr std::string_view kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

constexpr std::string_view kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// llama.cpp spells these classes with literal characters; \x{...} keeps them exact.
constexpr std::string_view kCjkHangul = R"re([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";

constexpr std::string_view kPoro =
    R"re( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)re";

// The \p{Lu}/\p{Ll} split of GPT-4o and Tekken, written with lookaheads as llama.cpp does.
constexpr std::string_view kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

const std::vector<PreTokenizerSpec>& specs() {
  static const std::vector<PreTokenizerSpec> table = {
      {{"default"},
       {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", "[0-9][0-9][0-9]"}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
       {kLlama3}, true, true, true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}},
      {{"deepseek-llm"},
       {R"re([\r\n])re",
        R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}-\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}-\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}-\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re",
        R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re",
        R"re(\s+$)re", kCjkHangul, R"re(\p{N}+)re"},
       false},
      {{"deepseek-coder"},
       {R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kCjkHangul, R"re(\p{N})re"},
       false},
      // llama.cpp's \p{S} leaves out '~' (its ASCII symbol list lacks it); the two guards on '~'
      // reproduce that.
      {{"deepseek-v3", "hunyuan-dense"},
       {R"re(\p{N}{1,3})re", R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re",
        R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|(?:~|[^\r\n\p{L}\p{P}\p{S}])?[\p{L}\p{M}]+| ?(?:(?!~)[\p{P}\p{S}])+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"},
       false},
      {{"falcon"}, {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b"}, {R"re(\p{N})re", kGpt2}},
      {{"command-r", "smollm"}, {R"re(\p{N})re", kGpt2}, false},
      {{"gpt-2", "phi-2", "gigachat", "a.x-4.0", "mellum", "exaone4", "mpt", "olmo", "jais"}, {kGpt2}},
      {{"trillion", "granite-docling"}, {kGpt2}, false},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "grok-2", "solar-open"},
       {kQwen2}, false},
      {{"stablelm2", "megrez"}, {kQwen2}},
      {{"bloom", "gpt3-finnish"}, {kPoro}},
      {{"poro-chat"}, {kPoro}, false},
      {{"viking"}, {kPoro, R"re(\p{N})re"}, false},
      {{"tekken"},
       {R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"},
       false, true, true},
      {{"chameleon"},
       {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", R"re(([\t\n]|    |  ))re",
        R"re(\p{N})re", R"re([\p{P}!-/:-@\[-`{-~])re", kGpt2},
       false, false, true},
      {{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {kGpt4o}, false},
      {{"superbpe"}, {R"re(\p{N}+)re", R"re((?=(\d{3})+(?!\d)))re"}, false},
      {{"bailingmoe", "bailingmoe2", "llada-moe"},
       {R"re('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)re"},
       false},
      {{"seed-coder"},
       {R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)re"},
       false},
  };
  return table;
}

// Appends to `pieces` the matches of `re` in subject[begin, end) and the gaps between them, as
// llama.cpp's unicode_regex_split_stl does (empty matches only split). The range is the whole
// subject for the regex: lookarounds and anchors do not see past it.
void split_range(const pcre2_code* re, pcre2_match_data* match, std::string_view subject,
                 size_t begin, size_t end, std::vector<std::pair<size_t, size_t>>& pieces) {
  const auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data() + begin);
  const size_t len = end - begin;
  size_t pos = 0, last = 0;
  uint32_t options = 0;
  while (pos <= len) {
    const int rc = pcre2_match(re, text, len, pos, options | PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) {
      if (options == 0 || pos == len) break;
      // No non-empty match where the last empty one was: step over one character, like
      // std::regex_iterator.
      options = 0;
      do ++pos;
      while (pos < len && (text[pos] & 0xC0) == 0x80);
      continue;
    }
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      fail("tokenizer pre-tokenizer regex failed on a {}-byte piece: {}", len,
           reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
    if (ov[0] > last) pieces.emplace_back(begin + last, begin + ov[0]);
    if (ov[1] > ov[0]) pieces.emplace_back(begin + ov[0], begin + ov[1]);
    last = ov[1];
    pos = ov[1];
    options = ov[1] == ov[0] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
  }
  if (last < len) pieces.emplace_back(begin + last, end);
}

}  // namespace

const PreTokenizerSpec* find_pre_tokenizer(std::string_view name) {
  for (const auto& spec : specs())
    for (const auto& n : spec.names)
      if (n == name) return &spec;
  return nullptr;
}

std::string known_pre_tokenizers() {
  std::string names;
  for (const auto& spec : specs())
    for (const auto& n : spec.names) names += (names.empty() ? "" : ", ") + std::string(n);
  return names;
}

void PreTokenizer::CodeDeleter::operator()(pcre2_code* code) const { pcre2_code_free(code); }

PreTokenizer::PreTokenizer(const PreTokenizerSpec& spec) {
  for (const auto& pattern : spec.regexes) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    // UTF without UCP: \s and \d stay ASCII as in llama.cpp's std::regex, \p{..} is Unicode.
    // DOLLAR_ENDONLY: ECMAScript's $ does not match before a final newline.
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &error, &offset, nullptr);
    if (!code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      fail("tokenizer pre-tokenizer regex '{}' does not compile at offset {}: {}", pattern, offset,
           reinterpret_cast<const char*>(message));
    }
    regexes_.emplace_back(code);
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  const std::vector<uint32_t> cpts = decode_utf8(text);

  // The subject the regexes see, as llama.cpp prepares it: non-ASCII whitespace becomes \v
  // (std::regex's \s is ASCII-only); code points PCRE2 cannot hold (surrogates, lenient decodes
  // past U+10FFFF) become a private-use character, like them neither letter, number nor space.
  std::string subject;
  subject.reserve(text.size());
  std::vector<uint32_t> cpt_index(1, 0);  // code point index at each byte offset of `subject`
  for (uint32_t i = 0; i < cpts.size(); ++i) {
    uint32_t cpt = cpts[i];
    if (cpt >= 0x80 && is_whitespace(cpt)) cpt = 0x0B;
    if ((cpt >= 0xD800 && cpt <= 0xDFFF) || cpt > 0x10FFFF) cpt = 0xE000;
    append_utf8(subject, cpt);
    cpt_index.resize(subject.size() + 1, i + 1);
  }

  std::vector<std::pair<size_t, size_t>> pieces, refined;
  if (!subject.empty()) pieces.emplace_back(0, subject.size());
  pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
  if (!match) fail("tokenizer: out of memory for regex match data");
  try {
    for (const auto& re : regexes_) {
      refined.clear();
      for (const auto& [begin, end] : pieces) split_range(re.get(), match, subject, begin, end, refined);
      pieces.swap(refined);
    }
  } catch (...) {
    pcre2_match_data_free(match);
    throw;
  }
  pcre2_match_data_free(match);

  // Words are the original code points, re-encoded and spelled in the byte-level alphabet.
  std::vector<std::string> words;
  words.reserve(pieces.size());
  std::string utf8;
  for (const auto& [begin, end] : pieces) {
    utf8.clear();
    for (uint32_t i = cpt_index[begin]; i < cpt_index[end]; ++i) append_utf8(utf8, cpts[i]);
    std::string& word = words.emplace_back();
    for (const char byte : utf8) word += byte_to_symbol(static_cast<uint8_t>(byte));
  }
  return words;
}

}  // namespace isomer::tok
