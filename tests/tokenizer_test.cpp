// Tokenizer tests against llama.cpp: its tokenizer test vectors (shared/vocab), the prompt
// tokens and streamed greedy text of its reference runs (shared/reference), and the special-token,
// decoding and error behaviour around them.
#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/gguf.h>
#include <isomer/tokenizer.h>
#include <nlohmann/json.hpp>

#include "test_data.h"
#include "tokenizer/pretokenizer.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace isomer {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Tokenizers load once per file for the whole run.
const Tokenizer& tokenizer(const std::string& relative_path) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[relative_path];
  if (!slot) slot = Tokenizer::from_gguf(*gguf::File::open((test::data_dir() / relative_path).string()));
  return *slot;
}

std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    const size_t n = b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    const auto b1 = static_cast<uint8_t>(s[i + 1 < s.size() ? i + 1 : i]);
    if ((b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F) || (b == 0xF0 && b1 < 0x90) || (b == 0xF4 && b1 > 0x8F))
      return false;
    i += n;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's tokenizer test vectors, read as tests/test-tokenizer-0.cpp reads them: inputs
// separated by "\n__ggml_vocab_test__\n" (which also ends the file), one line of ids per input.

struct VocabCase {
  std::string text;
  Ids ids;
};

std::vector<VocabCase> read_vectors(const std::string& relative_base) {
  const std::string raw = read_file(test::data_dir() / (relative_base + ".inp"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::istringstream out(read_file(test::data_dir() / (relative_base + ".out")));
  std::vector<VocabCase> cases;
  std::string line;
  for (const auto& input : inputs) {
    if (!std::getline(out, line)) throw std::runtime_error(relative_base + ": fewer outputs than inputs");
    VocabCase c{input, {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  if (std::getline(out, line) && !line.empty()) throw std::runtime_error(relative_base + ": more outputs than inputs");
  return cases;
}

struct VectorSet {
  const char* name;
  const char* gguf;     // the tokenizer, relative to the data folder
  const char* vectors;  // <vectors>.inp / <vectors>.out
};

void PrintTo(const VectorSet& v, std::ostream* os) { *os << v.gguf; }

// Every vocab/*.gguf that comes with vectors, plus the Qwen vectors on the Qwen models' own
// tokenizers (ggml-vocab-qwen2.gguf itself is not shared).
const VectorSet kVectorSets[] = {
    {"LlamaSpm", "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-llama-spm.gguf"},
    {"Phi3", "vocab/ggml-vocab-phi-3.gguf", "vocab/ggml-vocab-phi-3.gguf"},
    {"DeepseekCoder", "vocab/ggml-vocab-deepseek-coder.gguf", "vocab/ggml-vocab-deepseek-coder.gguf"},
    {"DeepseekLlm", "vocab/ggml-vocab-deepseek-llm.gguf", "vocab/ggml-vocab-deepseek-llm.gguf"},
    {"Falcon", "vocab/ggml-vocab-falcon.gguf", "vocab/ggml-vocab-falcon.gguf"},
    {"Gpt2", "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-gpt-2.gguf"},
    {"Mpt", "vocab/ggml-vocab-mpt.gguf", "vocab/ggml-vocab-mpt.gguf"},
    {"Refact", "vocab/ggml-vocab-refact.gguf", "vocab/ggml-vocab-refact.gguf"},
    {"Starcoder", "vocab/ggml-vocab-starcoder.gguf", "vocab/ggml-vocab-starcoder.gguf"},
    {"Qwen2Model", "models/qwen2-syn-q4_k_m.gguf", "vocab/ggml-vocab-qwen2.gguf"},
    {"Qwen3Model", "models/qwen3-syn-q4_k_m.gguf", "vocab/ggml-vocab-qwen2.gguf"},
};

class LlamaCppVectors : public testing::TestWithParam<VectorSet> {};

TEST_P(LlamaCppVectors, EncodeWithoutSpecialsReproducesIds) {
  const VectorSet& set = GetParam();
  const Tokenizer& tok = tokenizer(set.gguf);
  const auto cases = read_vectors(set.vectors);
  ASSERT_FALSE(cases.empty());
  size_t passed = 0;
  for (const auto& c : cases) {
    const Ids ids = tok.encode(c.text, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(ids, c.ids) << "input: '" << printable(c.text) << "'";
    passed += ids == c.ids;
  }
  RecordProperty("passed", std::to_string(passed) + "/" + std::to_string(cases.size()));
  std::printf("[ vectors  ] %s: %zu/%zu\n", set.name, passed, cases.size());
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, LlamaCppVectors, testing::ValuesIn(kVectorSets),
                         [](const testing::TestParamInfo<VectorSet>& info) { return std::string(info.param.name); });

TEST(TokenizerVocab, EveryVocabWithVectorsIsCovered) {
  std::set<std::string> covered;
  for (const auto& set : kVectorSets) covered.insert(set.gguf);
  covered.insert("vocab/ggml-vocab-bert-bge.gguf");  // WordPiece: the clear-error test below
  for (const auto& entry : fs::directory_iterator(test::data_dir() / "vocab")) {
    const auto path = entry.path();
    if (path.extension() != ".gguf" || !fs::exists(path.string() + ".inp")) continue;
    EXPECT_TRUE(covered.count("vocab/" + path.filename().string())) << path << " has vectors but no test";
  }
}

TEST(TokenizerVocab, BertWordPieceIsRejectedWithClearError) {
  const auto file = gguf::File::open((test::data_dir() / "vocab/ggml-vocab-bert-bge.gguf").string());
  try {
    Tokenizer::from_gguf(*file);
    FAIL() << "a WordPiece vocabulary loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported tokenizer model 'bert'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ggml-vocab-bert-bge.gguf"), std::string::npos) << e.what();
  }
}

// Vocabularies without vectors still load and round-trip: Baichuan (SentencePiece) and
// GPT-NeoX (BPE without tokenizer.ggml.pre, hence llama.cpp's default regexes).
TEST(TokenizerVocab, VocabsWithoutVectorsLoadAndRoundTrip) {
  const Tokenizer& baichuan = tokenizer("vocab/ggml-vocab-baichuan.gguf");
  EXPECT_EQ(baichuan.model(), "llama");
  EXPECT_EQ(baichuan.n_vocab(), 64000);
  const Tokenizer& neox = tokenizer("vocab/ggml-vocab-gpt-neox.gguf");
  EXPECT_EQ(neox.model(), "gpt2");
  EXPECT_EQ(neox.pre(), "default");
  for (const std::string text : {"Hello world", "3333 apples\n\tand 🦙 llamas"}) {
    EXPECT_EQ(baichuan.decode(baichuan.encode(text, false, false)), text);
    EXPECT_EQ(neox.decode(neox.encode(text, false, false)), text);
  }
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's reference runs.

struct Reference {
  std::string file;
  nlohmann::json json;
};

std::vector<Reference> references() {
  std::vector<Reference> refs;
  for (const auto& entry : fs::directory_iterator(test::data_dir() / "reference"))
    if (entry.path().extension() == ".json")
      refs.push_back({entry.path().filename().string(), nlohmann::json::parse(read_file(entry.path()))});
  std::sort(refs.begin(), refs.end(), [](const auto& a, const auto& b) { return a.file < b.file; });
  return refs;
}

// The references were made with add_special = true (recorded in each file). The prompts hold no
// special-token text, so parse_special does not change them; llama-cli passes true.
TEST(TokenizerReference, PromptTokensMatchLlamaCpp) {
  const auto refs = references();
  ASSERT_FALSE(refs.empty());
  for (const auto& ref : refs) {
    SCOPED_TRACE(ref.file);
    ASSERT_TRUE(ref.json.at("add_special").get<bool>());
    const Tokenizer& tok = tokenizer("models/" + ref.json.at("model").get<std::string>());
    const auto prompt = ref.json.at("prompt").get<std::string>();
    const auto expected = ref.json.at("prompt_tokens").get<Ids>();
    EXPECT_EQ(tok.encode(prompt, true, true), expected);
    EXPECT_EQ(tok.encode(prompt, true, false), expected);
  }
}

// greedy_text is the generated tokens decoded one at a time; where a byte token leaves a
// character unfinished (llama-syn-q4_0.code: <0xCE> then " Studies"), it holds U+FFFD.
TEST(TokenizerReference, StreamDecodingReproducesGreedyText) {
  for (const auto& ref : references()) {
    SCOPED_TRACE(ref.file);
    const Tokenizer& tok = tokenizer("models/" + ref.json.at("model").get<std::string>());
    StreamDecoder decoder(tok);
    std::string text;
    for (const int32_t id : ref.json.at("greedy_tokens").get<Ids>()) {
      const std::string out = decoder.push(id);
      EXPECT_TRUE(is_valid_utf8(out));
      text += out;
    }
    text += decoder.flush();
    EXPECT_EQ(text, ref.json.at("greedy_text").get<std::string>());
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding.

TEST(StreamDecoder, HoldsBackACharacterSplitAcrossByteTokens) {
  const Tokenizer& tok = tokenizer("vocab/ggml-vocab-llama-spm.gguf");
  const auto byte = [&](int b) { return tok.find_token(fmt::format("<0x{:02X}>", b)); };
  StreamDecoder decoder(tok);
  EXPECT_EQ(decoder.push(byte(0xF0)), "");
  EXPECT_EQ(decoder.push(byte(0x9F)), "");
  EXPECT_EQ(decoder.push(byte(0xA6)), "");
  EXPECT_EQ(decoder.push(byte(0x99)), "\xF0\x9F\xA6\x99");  // U+1F999
  EXPECT_EQ(decoder.push(byte(0xE2)), "");
  EXPECT_EQ(decoder.push(byte(0x82)), "");
  EXPECT_EQ(decoder.push(byte(0xAC)), "\xE2\x82\xAC");  // U+20AC
  EXPECT_EQ(decoder.flush(), "");

  // A lead byte the next token cannot continue, and a character cut off by the end.
  EXPECT_EQ(decoder.push(byte(0xCE)), "");
  EXPECT_EQ(decoder.push(tok.find_token("\xE2\x96\x81the")), "\xEF\xBF\xBD the");
  EXPECT_EQ(decoder.push(byte(0xE2)), "");
  EXPECT_EQ(decoder.push(byte(0x82)), "");
  EXPECT_EQ(decoder.flush(), "\xEF\xBF\xBD");
}

TEST(StreamDecoder, StreamEqualsDecodeAndStaysValid) {
  const std::string texts[] = {"Qwen 和 DeepSeek 🚀 的下载量", "кошка 🦙🦙 ✅ café", "Cửa Việt ខ្មែរ"};
  for (const char* path : {"vocab/ggml-vocab-llama-spm.gguf", "models/qwen2-syn-q4_k_m.gguf",
                           "vocab/ggml-vocab-deepseek-llm.gguf"}) {
    const Tokenizer& tok = tokenizer(path);
    for (const auto& text : texts) {
      SCOPED_TRACE(std::string(path) + ": " + text);
      const Ids ids = tok.encode(text, false, false);
      StreamDecoder decoder(tok);
      std::string streamed;
      for (const int32_t id : ids) {
        const std::string out = decoder.push(id);
        EXPECT_TRUE(is_valid_utf8(out));
        streamed += out;
      }
      streamed += decoder.flush();
      // SentencePiece pieces keep the leading space that decode() drops.
      EXPECT_EQ(streamed, tok.model() == "llama" ? " " + text : text);
    }
  }
}

TEST(TokenizerRoundTrip, SentencePieceDropsOnlyItsSpacePrefix) {
  const std::string texts[] = {"Hello world", " leading space", "two  spaces\nand\ttabs",
                               "emoji 🦙 and 中文 and ខ្មែរ", "3.14159 != 2.71828"};
  for (const char* path : {"vocab/ggml-vocab-llama-spm.gguf", "models/stories260K.gguf"}) {
    const Tokenizer& tok = tokenizer(path);
    for (const auto& text : texts) {
      SCOPED_TRACE(std::string(path) + ": " + text);
      EXPECT_EQ(tok.decode(tok.encode(text, false, false)), text);
      // After BOS, llama.cpp's detokenizer keeps the prefix space.
      const Ids with_bos = tok.encode(text, true, false);
      ASSERT_EQ(with_bos.front(), tok.bos());
      EXPECT_EQ(tok.decode(with_bos), " " + text);
    }
  }
}

TEST(TokenizerRoundTrip, ByteLevelBpe) {
  const std::string texts[] = {"Hello world", "  indented\n\n\tcode();", "emoji 🦙🚀 and 中文",
                               "numbers 1234567 and 3.14", "Cửa Việt нещо на Български"};
  for (const char* path : {"models/qwen2-syn-q4_k_m.gguf", "vocab/ggml-vocab-gpt-2.gguf",
                           "vocab/ggml-vocab-deepseek-coder.gguf", "vocab/ggml-vocab-falcon.gguf"}) {
    const Tokenizer& tok = tokenizer(path);
    for (const auto& text : texts) {
      SCOPED_TRACE(std::string(path) + ": " + text);
      EXPECT_EQ(tok.decode(tok.encode(text, false, false)), text);
    }
  }
}

// gpt-2's vocabulary asks for HF's clean_up_tokenization_spaces; Qwen's does not.
TEST(TokenizerRoundTrip, CleanSpacesFollowsTheVocabulary) {
  const std::string text = "Hello , world ! I 'm sure it 's fine .";
  const Tokenizer& gpt2 = tokenizer("vocab/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(gpt2.decode(gpt2.encode(text, false, false)), "Hello, world! I'm sure it's fine.");
  const Tokenizer& qwen = tokenizer("models/qwen2-syn-q4_k_m.gguf");
  EXPECT_EQ(qwen.decode(qwen.encode(text, false, false)), text);
}

// Ill-formed UTF-8: SentencePiece falls back to byte tokens and loses nothing (given no space
// or U+2581 that a truncated sequence could swallow: llama.cpp splits symbols by lead byte after
// escaping spaces); the BPE pre-tokenizer decodes as llama.cpp does (leniently, U+FFFD for each
// stray byte).
TEST(TokenizerRoundTrip, IllFormedUtf8) {
  const Tokenizer& spm = tokenizer("vocab/ggml-vocab-llama-spm.gguf");
  const Tokenizer& qwen = tokenizer("models/qwen2-syn-q4_k_m.gguf");
  EXPECT_EQ(qwen.decode(qwen.encode("a\xFF" "b\xE2\x82", false, false)), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(qwen.decode(qwen.encode("x\xC0\x80y", false, false)), std::string("x\0y", 3));  // overlong NUL

  uint32_t state = 12345;
  for (int round = 0; round < 200; ++round) {
    std::string bytes(1 + round % 37, '\0');
    for (char& c : bytes) {
      do c = static_cast<char>((state = state * 1664525u + 1013904223u) >> 24);
      while (c == ' ' || c == '\xE2');
    }
    SCOPED_TRACE(round);
    EXPECT_EQ(spm.decode(spm.encode(bytes, false, false)), bytes);
    const std::string once = qwen.decode(qwen.encode(bytes, false, false));
    EXPECT_EQ(qwen.decode(qwen.encode(once, false, false)), once);
  }
}

// ---------------------------------------------------------------------------------------------
// Special tokens.

TEST(TokenizerSpecial, QwenChatMarkersParseOnlyWhenAsked) {
  const Tokenizer& tok = tokenizer("models/qwen2-syn-q4_k_m.gguf");
  const int32_t im_start = tok.find_token("<|im_start|>"), im_end = tok.find_token("<|im_end|>");
  ASSERT_EQ(im_start, 151644);
  ASSERT_EQ(im_end, 151645);
  const std::string text = "<|im_start|>user\nHello<|im_end|>\n";

  const Ids parsed = tok.encode(text, true, true);  // Qwen adds no BOS
  ASSERT_GE(parsed.size(), 3u);
  EXPECT_EQ(parsed.front(), im_start);
  EXPECT_EQ(parsed[parsed.size() - 2], im_end);
  EXPECT_EQ(tok.decode(parsed), "user\nHello\n");
  EXPECT_EQ(tok.decode(parsed, /*render_special=*/true), text);

  const Ids literal = tok.encode(text, true, false);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), im_start), 0);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), im_end), 0);
  EXPECT_EQ(tok.decode(literal), text);

  EXPECT_EQ(tok.piece(im_start), "");
  EXPECT_EQ(tok.piece(im_start, true), "<|im_start|>");
  EXPECT_EQ(tok.token_type(im_start), TokenType::Control);
  // <think> is user-defined: matched and rendered even without the special flags.
  const int32_t think = tok.find_token("<think>");
  EXPECT_EQ(tok.token_type(think), TokenType::UserDefined);
  EXPECT_EQ(tok.encode("a<think>b", false, false)[1], think);
  EXPECT_EQ(tok.piece(think), "<think>");
}

TEST(TokenizerSpecial, EndOfGenerationAndDefaults) {
  const Tokenizer& qwen = tokenizer("models/qwen2-syn-q4_k_m.gguf");
  EXPECT_EQ(qwen.eos(), 151643);
  EXPECT_EQ(qwen.eot(), 151645);  // <|im_end|>, found by its text
  EXPECT_FALSE(qwen.add_bos());
  EXPECT_TRUE(qwen.is_eog(151643));
  EXPECT_TRUE(qwen.is_eog(151645));
  EXPECT_TRUE(qwen.is_eog(qwen.find_token("<|fim_pad|>")));
  EXPECT_FALSE(qwen.is_eog(151644));
  EXPECT_FALSE(qwen.is_eog(0));

  const Tokenizer& spm = tokenizer("vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(spm.bos(), 1);
  EXPECT_EQ(spm.eos(), 2);
  EXPECT_EQ(spm.unk(), 0);
  EXPECT_TRUE(spm.add_bos());
  EXPECT_FALSE(spm.add_eos());
  EXPECT_TRUE(spm.is_eog(2));
  EXPECT_FALSE(spm.is_eog(1));
  EXPECT_EQ(spm.piece(1), "");
  EXPECT_EQ(spm.piece(1, true), "<s>");
  EXPECT_EQ(spm.piece(spm.find_token("<0x0A>")), "\n");
  // Text after a special token gets SentencePiece's space prefix again.
  EXPECT_EQ(spm.encode("<s>Hello", false, true), (Ids{1, spm.find_token("\xE2\x96\x81Hello")}));

  const Tokenizer& gpt2 = tokenizer("vocab/ggml-vocab-gpt-2.gguf");
  EXPECT_TRUE(gpt2.is_eog(50256));
  EXPECT_EQ(gpt2.eot(), 50256);
  EXPECT_THROW(gpt2.piece(gpt2.n_vocab()), Error);
  EXPECT_THROW(gpt2.token_text(-1), Error);
}

// MPT's runs of spaces are user-defined tokens: they are split out before the BPE, as llama.cpp
// (and HF) do, even with parse_special off.
TEST(TokenizerSpecial, UserDefinedTokensMatchWithoutParseSpecial) {
  const Tokenizer& tok = tokenizer("vocab/ggml-vocab-mpt.gguf");
  const int32_t four_spaces = tok.find_token("    ");
  ASSERT_GE(four_spaces, 0);
  const Ids ids = tok.encode("x    y", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), four_spaces), 1);
}

// llama.cpp gives Phi-3's special tokens (not <s>, <unk>, <|endoftext|>) RSTRIP: whitespace after
// them is dropped when they are parsed.
TEST(TokenizerSpecial, Phi3SpecialTokensSwallowFollowingWhitespace) {
  const Tokenizer& tok = tokenizer("vocab/ggml-vocab-phi-3.gguf");
  const Ids a = tok.encode("<|user|>\n  Hi<|end|>", true, true);
  const Ids b = tok.encode("<|user|>Hi<|end|>", true, true);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.front(), 1);
  EXPECT_EQ(a[1], tok.find_token("<|user|>"));
  EXPECT_NE(tok.encode("<s>\nHi", false, true), tok.encode("<s>Hi", false, true));
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers.

std::vector<std::string> split(std::string_view pre, std::string_view text) {
  const tok::PreTokenizerSpec* spec = tok::find_pre_tokenizer(pre);
  if (!spec) throw std::runtime_error("no pre-tokenizer " + std::string(pre));
  return tok::PreTokenizer(*spec).split(text);
}

TEST(PreTokenizer, EveryKnownRegexCompiles) {
  std::istringstream names(tok::known_pre_tokenizers());
  size_t count = 0;
  for (std::string name; std::getline(names, name, ',');) {
    name.erase(0, name.find_first_not_of(' '));
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(split(name, "Hello, y'all! 1234567 ~~ \n\n 你好"));
    ++count;
  }
  EXPECT_GT(count, 50u);
}

// Zero-width matches only split, as std::regex_iterator steps over them in llama.cpp.
TEST(PreTokenizer, LookaheadOnlyRegexSplitsDigitGroups) {
  EXPECT_EQ(split("superbpe", "1234567"), (std::vector<std::string>{"1", "234", "567"}));
}

// llama.cpp's collapsed \p{S} does not contain '~'.
TEST(PreTokenizer, DeepseekV3TildeIsNoSymbol) {
  EXPECT_EQ(split("deepseek-v3", "~!"), (std::vector<std::string>{"~", "!"}));
  EXPECT_EQ(split("deepseek-v3", "~\xC3\xA9"), (std::vector<std::string>{"~\xC3\x83\xC2\xA9"}));  // "~é"
}

// Non-ASCII whitespace counts as \s: llama.cpp's std::regex sees it as \v.
TEST(PreTokenizer, NonAsciiWhitespaceIsWhitespace) {
  EXPECT_EQ(split("gpt-2", "a\xE3\x80\x80\xE3\x80\x80" "b").size(), 4u);  // as "a", " ", " ", "b" would be
  // deepseek-llm's "\s?[A-Za-z...]+" takes the no-break space along; "\xC3\x82\xC5\x82" is its
  // byte-level spelling.
  EXPECT_EQ(split("deepseek-llm", "a\xC2\xA0" "b"), (std::vector<std::string>{"a", "\xC3\x82\xC5\x82" "b"}));
}

// ---------------------------------------------------------------------------------------------
// Loading.

// A metadata-only GGUF file, for the error cases.
std::unique_ptr<gguf::File> metadata_file(const std::string& name,
                                          const std::vector<std::pair<std::string, gguf::Value>>& kv) {
  gguf::Writer writer;
  for (const auto& [key, value] : kv) writer.set(key, value);
  const fs::path path = fs::temp_directory_path() / ("isomer-tokenizer-test-" + name + ".gguf");
  writer.write(path.string());
  return gguf::File::open(path.string());
}

void expect_error(const gguf::File& file, const std::string& needle) {
  try {
    Tokenizer::from_gguf(file);
    ADD_FAILURE() << "loaded; expected an error mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoad, ClearErrors) {
  using gguf::Value;
  expect_error(*metadata_file("no-model", {{"general.architecture", Value::string("llama")}}),
               "tokenizer.ggml.model is missing");
  expect_error(*metadata_file("t5", {{"tokenizer.ggml.model", Value::string("t5")},
                                     {"tokenizer.ggml.tokens", Value::strings({"a", "b"})}}),
               "unsupported tokenizer model 't5'");
  expect_error(*metadata_file("unknown-pre", {{"tokenizer.ggml.model", Value::string("gpt2")},
                                              {"tokenizer.ggml.pre", Value::string("no-such-pre")},
                                              {"tokenizer.ggml.tokens", Value::strings({"a", "b"})},
                                              {"tokenizer.ggml.merges", Value::strings({"a b"})}}),
               "unknown BPE pre-tokenizer 'no-such-pre'");
  expect_error(*metadata_file("no-merges", {{"tokenizer.ggml.model", Value::string("gpt2")},
                                            {"tokenizer.ggml.pre", Value::string("gpt-2")},
                                            {"tokenizer.ggml.tokens", Value::strings({"a", "b"})}}),
               "no tokenizer.ggml.merges");
  expect_error(*metadata_file("duplicate", {{"tokenizer.ggml.model", Value::string("llama")},
                                            {"tokenizer.ggml.tokens", Value::strings({"<unk>", "<s>", "</s>", "a", "a"})}}),
               "token 'a' appears twice");
  expect_error(*metadata_file("short-types", {{"tokenizer.ggml.model", Value::string("llama")},
                                              {"tokenizer.ggml.tokens", Value::strings({"<unk>", "<s>", "</s>"})},
                                              {"tokenizer.ggml.token_type", Value::i32s(std::vector<int32_t>{2, 3})}}),
               "token_type has 2 entries for 3 tokens");
}

}  // namespace
}  // namespace isomer
