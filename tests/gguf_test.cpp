// GGUF reader and writer: the shared models load with the facts their README states, every
// value type round-trips, and every kind of corrupt file is rejected with its own error.
#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/gguf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>

#include "test_data.h"

namespace isomer::gguf {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

constexpr uint64_t kHuge = uint64_t{1} << 62;

using test::temp_path;

Bytes read_file(const fs::path& path) {
  Bytes bytes(fs::file_size(path));
  std::ifstream(path, std::ios::binary)
      .read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

fs::path write_file(const std::string& name, const Bytes& bytes) {
  const fs::path path = temp_path(name);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// The message of the Error opening `bytes` throws, or "" when it opens.
std::string open_error(const Bytes& bytes, const std::string& name = "case.gguf") {
  const fs::path path = write_file(name, bytes);
  try {
    File::open(path.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

size_t find_bytes(const Bytes& bytes, std::string_view needle) {
  const auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  if (it == bytes.end()) throw std::logic_error("test file lacks " + std::string(needle));
  return static_cast<size_t>(it - bytes.begin());
}

template <class T>
void poke(Bytes& bytes, size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

// Offset of the u32 type field that follows a metadata key.
size_t value_type_at(const Bytes& b, std::string_view key) { return find_bytes(b, key) + key.size(); }

// Offsets of the fields of a tensor info.
struct InfoFields {
  size_t n_dims, dims, type, offset;
};
InfoFields info_at(const Bytes& b, std::string_view name) {
  const size_t n_dims = find_bytes(b, name) + name.size();
  uint32_t n = 0;
  std::memcpy(&n, b.data() + n_dims, 4);
  const size_t type = n_dims + 4 + 8 * n;
  return {n_dims, n_dims + 4, type, type + 4};
}

Value nested(int levels) {
  Value v = Value::array(ValueType::U64, {Value::u64(0), Value::u64(0)});
  for (int i = 1; i < levels; ++i) v = Value::array(ValueType::ARRAY, {v});
  return v;
}

Bytes filled(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

// The file every corruption starts from. Tensor data: a at 0 (64 bytes), b at 64 (68 bytes,
// padded to 96), c at 160 (16 bytes).
Bytes base_file() {
  Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("general.alignment", Value::u32(32));
  w.set("test.keyA", Value::u32(1));
  w.set("test.keyB", Value::u32(2));
  w.set("test.list", Value::i32s(std::vector<int32_t>{1, 2, 3}));
  w.set("test.flag", Value::boolean(true));
  w.set("test.deep", nested(8));  // the deepest nesting the reader accepts
  w.add_tensor("tensor.a", DType::F32, {8, 2}, filled(64, 1));
  w.add_tensor("tensor.b", DType::Q8_0, {32, 2}, filled(68, 2));
  w.add_tensor("tensor.c", DType::F32, {4}, filled(16, 3));
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Shared models and vocabularies

std::vector<fs::path> shared_ggufs() {
  std::vector<fs::path> out;
  for (const char* sub : {"models", "vocab"})
    for (const auto& e : fs::directory_iterator(test::data_dir() / sub))
      if (e.path().extension() == ".gguf") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(GgufShared, EveryModelAndVocabularyLoads) {
  const auto files = shared_ggufs();
  ASSERT_GE(files.size(), 23u);
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    const auto f = File::open(path.string());
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->file_size(), fs::file_size(path));
    EXPECT_TRUE(f->get_string("general.architecture").has_value());
    EXPECT_FALSE(f->get_strings("tokenizer.ggml.tokens").value().empty());
    const bool is_model = path.parent_path().filename() == "models";
    EXPECT_EQ(f->tensors().empty(), !is_model);
    for (const auto& t : f->tensors()) {
      EXPECT_EQ(f->find_tensor(t.name), &t);
      EXPECT_EQ((f->data_offset() + t.offset) % 32, 0u) << t.name;
      EXPECT_LE(f->data_offset() + t.offset + t.nbytes, f->file_size()) << t.name;
    }
  }
}

// llama.cpp wrote these files; writing back what was read must reproduce them exactly.
TEST(GgufShared, RewritingReproducesEveryFileByteForByte) {
  for (const auto& path : shared_ggufs()) {
    SCOPED_TRACE(path.string());
    const auto f = File::open(path.string());
    Writer w;
    for (const auto& [key, value] : f->metadata()) w.set(key, value);
    for (const auto& t : f->tensors()) w.add_tensor(t.name, t.type, t.dims, {t.data, t.nbytes});
    const Bytes written = w.finish();
    EXPECT_TRUE(written == read_file(path));
  }
}

TEST(GgufShared, Stories260KFacts) {
  const auto f = File::open(test::model_path("stories260K.gguf").string());
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 5);
  EXPECT_EQ(f->get_int("llama.embedding_length"), 64);
  EXPECT_EQ(f->get_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(f->get_int("llama.attention.head_count"), 8);
  EXPECT_EQ(f->get_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_NEAR(f->get_float("llama.attention.layer_norm_rms_epsilon").value(), 1e-5, 1e-9);
  EXPECT_EQ(f->get_strings("tokenizer.ggml.tokens")->size(), 512u);
  EXPECT_EQ(f->get_floats("tokenizer.ggml.scores")->size(), 512u);
  EXPECT_EQ(f->get_ints("tokenizer.ggml.token_type")->size(), 512u);
  EXPECT_EQ(f->tensors().size(), 48u);  // 5 layers x 9 + embeddings, output norm, output

  const TensorInfo* embd = f->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, DType::F32);
  EXPECT_EQ(embd->dims, (std::vector<int64_t>{64, 512}));
  EXPECT_EQ(embd->shape_string(), "[64, 512]");
  EXPECT_EQ(embd->elements(), 64 * 512);
  EXPECT_EQ(embd->nbytes, 64u * 512 * 4);
  EXPECT_NE(f->find_tensor("output.weight"), nullptr);
  EXPECT_EQ(f->find_tensor("no.such.tensor"), nullptr);

  // Bit-identical to the llama2.c export, whose embedding table follows a 7 x i32 header.
  const Bytes bin = read_file(test::model_path("stories260K.bin"));
  ASSERT_GE(bin.size(), 28 + embd->nbytes);
  EXPECT_EQ(std::memcmp(embd->data, bin.data() + 28, embd->nbytes), 0);
}

TEST(GgufShared, QuantizedAndQwenFacts) {
  const auto q8 = File::open(test::model_path("stories260K-q8_0.gguf").string());
  EXPECT_EQ(q8->find_tensor("token_embd.weight")->type, DType::Q8_0);
  EXPECT_EQ(q8->find_tensor("token_embd.weight")->nbytes, 512u * 2 * 34);
  EXPECT_EQ(q8->find_tensor("output_norm.weight")->type, DType::F32);

  const auto syn = File::open(test::model_path("llama-syn-f16.gguf").string());
  EXPECT_EQ(syn->get_int("llama.block_count"), 3);
  EXPECT_EQ(syn->get_int("llama.attention.head_count_kv"), 1);
  EXPECT_EQ(syn->get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(syn->find_tensor("output.weight")->type, DType::F16);

  const auto qwen3 = File::open(test::model_path("qwen3-syn-q4_k_m.gguf").string());
  EXPECT_EQ(qwen3->get_string("general.architecture"), "qwen3");
  EXPECT_EQ(qwen3->get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(qwen3->get_int("qwen3.attention.key_length"), 128);
  EXPECT_EQ(qwen3->get_float("qwen3.rope.freq_base"), 1e6);
  EXPECT_EQ(qwen3->get_strings("tokenizer.ggml.tokens")->size(), 151936u);
  EXPECT_EQ(qwen3->find_tensor("output.weight"), nullptr);  // tied embeddings
  EXPECT_EQ(qwen3->find_tensor("blk.0.attn_q.weight")->type, DType::Q4_K);
  EXPECT_EQ(qwen3->find_tensor("blk.0.attn_q.weight")->dims, (std::vector<int64_t>{256, 512}));
  EXPECT_EQ(qwen3->find_tensor("token_embd.weight")->type, DType::Q6_K);
}

TEST(GgufShared, VocabularyFacts) {
  struct Row {
    const char* file;
    const char* arch;
    const char* model;
    size_t tokens;
  };
  for (const Row& row : {Row{"ggml-vocab-bert-bge.gguf", "bert", "bert", 30522},
                         Row{"ggml-vocab-gpt-2.gguf", "gpt2", "gpt2", 50257},
                         Row{"ggml-vocab-llama-spm.gguf", "llama", "llama", 32000},
                         Row{"ggml-vocab-phi-3.gguf", "phi3", "llama", 32064},
                         Row{"ggml-vocab-starcoder.gguf", "starcoder2", "gpt2", 49152}}) {
    SCOPED_TRACE(row.file);
    const auto f = File::open((test::data_dir() / "vocab" / row.file).string());
    EXPECT_EQ(f->get_string("general.architecture"), row.arch);
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), row.model);
    EXPECT_EQ(f->get_strings("tokenizer.ggml.tokens")->size(), row.tokens);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer round trip and typed getters

std::vector<std::pair<std::string, Value>> every_value_type() {
  const std::vector<float> floats = {0.1f, -2.5f, std::numeric_limits<float>::max()};
  const std::vector<int32_t> ints = {std::numeric_limits<int32_t>::min(), 0, 7};
  return {
      {"v.u8", {ValueType::U8, ValueType::U8, uint64_t{255}}},
      {"v.i8", {ValueType::I8, ValueType::U8, int64_t{-128}}},
      {"v.u16", {ValueType::U16, ValueType::U8, uint64_t{65535}}},
      {"v.i16", {ValueType::I16, ValueType::U8, int64_t{-32768}}},
      {"v.u32", Value::u32(std::numeric_limits<uint32_t>::max())},
      {"v.i32", Value::i32(std::numeric_limits<int32_t>::min())},
      {"v.u64", Value::u64(std::numeric_limits<uint64_t>::max())},
      {"v.i64", {ValueType::I64, ValueType::U8, std::numeric_limits<int64_t>::min()}},
      {"v.f32", Value::f32(0.1f)},
      {"v.f64", {ValueType::F64, ValueType::U8, 0.1}},
      {"v.true", Value::boolean(true)},
      {"v.false", Value::boolean(false)},
      {"v.string", Value::string(std::string("h\xC3\xA9llo\0world", 12))},
      {"v.empty_string", Value::string("")},
      {"v.strings", Value::strings({"a", "", "longer string", "\xE2\x96\x81tok"})},
      {"v.f32s", Value::f32s(floats)},
      {"v.i32s", Value::i32s(ints)},
      {"v.bools", Value::array(ValueType::BOOL, {Value::boolean(true), Value::boolean(false)})},
      {"v.u64s", Value::array(ValueType::U64, {Value::u64(0), Value::u64(uint64_t{1} << 63)})},
      {"v.empty_array", Value::array(ValueType::F64, {})},
      {"v.nested",
       Value::array(ValueType::ARRAY, {Value::strings({"x", "y"}), Value::i32s(ints),
                                       Value::array(ValueType::STRING, {}),
                                       Value::array(ValueType::ARRAY, {Value::f32s(floats)})})},
      {"v.deep", nested(8)},
  };
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
  const auto values = every_value_type();
  Writer w;
  for (const auto& [key, value] : values) w.set(key, value);
  const fs::path path = temp_path("values.gguf");
  w.write(path.string());
  const auto f = File::open(path.string());
  EXPECT_TRUE(f->metadata() == values);
  ASSERT_EQ(f->metadata().size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, values[i].first);
    EXPECT_TRUE(f->metadata()[i].second == values[i].second) << values[i].first;
  }
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_EQ(read_file(path), w.finish());
}

TEST(GgufWriter, SetReplacesInPlace) {
  Writer w;
  w.set("a", Value::u32(1));
  w.set("b", Value::u32(2));
  w.set("a", Value::string("again"));
  const auto f = File::open(write_file("replace.gguf", w.finish()).string());
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(f->get_string("a"), "again");
}

TEST(GgufWriter, TensorsRoundTripAligned) {
  struct Spec {
    const char* name;
    DType type;
    std::vector<int64_t> dims;
    size_t nbytes;
  };
  const std::vector<Spec> specs = {{"f32", DType::F32, {3, 5}, 60},
                                   {"f16", DType::F16, {7}, 14},
                                   {"bf16", DType::BF16, {2, 2, 2, 2}, 32},
                                   {"q4_0", DType::Q4_0, {64, 3}, 2 * 3 * 18},
                                   {"q8_0", DType::Q8_0, {32}, 34},
                                   {"q4_k", DType::Q4_K, {256, 2}, 2 * 144},
                                   {"q6_k", DType::Q6_K, {512}, 2 * 210},
                                   {"i32", DType::I32, {5, 1, 1}, 20},
                                   {"empty", DType::F32, {0, 4}, 0}};
  Writer w;
  w.set("general.alignment", Value::u32(64));
  for (size_t i = 0; i < specs.size(); ++i)
    w.add_tensor(specs[i].name, specs[i].type, specs[i].dims,
                 filled(specs[i].nbytes, static_cast<uint8_t>(i)));
  const fs::path path = temp_path("tensors.gguf");
  w.write(path.string());
  const auto f = File::open(path.string());
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  ASSERT_EQ(f->tensors().size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo& t = f->tensors()[i];
    SCOPED_TRACE(specs[i].name);
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.type, specs[i].type);
    EXPECT_EQ(t.dims, specs[i].dims);
    EXPECT_EQ(t.nbytes, specs[i].nbytes);
    EXPECT_EQ(t.offset % 64, 0u);
    EXPECT_TRUE(Bytes(t.data, t.data + t.nbytes) == filled(specs[i].nbytes, static_cast<uint8_t>(i)));
  }
  EXPECT_EQ(f->find_tensor("empty")->elements(), 0);
  EXPECT_EQ(f->file_size() % 64, 0u);  // padding after the last tensor too, as llama.cpp writes
}

TEST(GgufWriter, WriteReplacesAtomicallyAndLeavesNoTemporaries) {
  const fs::path path = temp_path("atomic.gguf");
  Writer first;
  first.set("n", Value::u32(1));
  first.write(path.string());
  Writer second;
  second.set("n", Value::u32(2));
  second.write(path.string());
  EXPECT_EQ(File::open(path.string())->get_int("n"), 2);
  for (const auto& e : fs::directory_iterator(path.parent_path()))
    EXPECT_EQ(e.path().string().find("atomic.gguf."), std::string::npos) << e.path();
  EXPECT_THROW(second.write((temp_path("no-such-dir") / "x.gguf").string()), Error);
}

TEST(GgufWriter, RejectsWhatTheReaderWouldReject) {
  const Bytes f32x4(16);
  const std::vector<std::pair<std::function<void(Writer&)>, const char*>> rows = {
      {[&](Writer& w) { w.add_tensor("t", DType::F32, {5}, f32x4); }, "needs 20 bytes of data, got 16"},
      {[&](Writer& w) { w.add_tensor("t", DType::Q8_0, {16}, f32x4); }, "not a multiple of the Q8_0"},
      {[&](Writer& w) { w.add_tensor("t", DType::F32, {1, 1, 1, 1, 4}, f32x4); }, "5 dimensions"},
      {[&](Writer& w) { w.add_tensor("t", DType::F32, {}, f32x4); }, "0 dimensions"},
      {[&](Writer& w) { w.add_tensor("t", DType::F32, {-4}, f32x4); }, "negative"},
      {[&](Writer& w) { w.add_tensor("t", static_cast<DType>(10), {4}, f32x4); }, "unsupported type Q2_K"},
      {[&](Writer& w) {
         w.add_tensor("t", DType::F32, {4}, f32x4);
         w.add_tensor("t", DType::F32, {4}, f32x4);
       },
       "duplicate tensor name 't'"},
      {[](Writer& w) { w.set("general.alignment", Value::i32(32)); }, "has type i32, expected u32"},
      {[](Writer& w) { w.set("general.alignment", Value::u32(24)); }, "24, which is not a non-zero"},
      {[](Writer& w) { w.set("k", {ValueType::U8, ValueType::U8, uint64_t{256}}); }, "256 does not fit in u8"},
      {[](Writer& w) { w.set("k", {ValueType::I8, ValueType::U8, int64_t{-129}}); }, "-129 does not fit in i8"},
      {[](Writer& w) { w.set("k", {ValueType::U32, ValueType::U8, std::string("x")}); }, "non-integer"},
      {[](Writer& w) { w.set("k", {ValueType::STRING, ValueType::U8, 1.0}); }, "another kind"},
      {[](Writer& w) { w.set("k", Value::array(ValueType::U32, {Value::i32(1)})); },
       "array of u32 but holds a i32"},
      {[](Writer& w) { w.set("k", nested(9)); }, "nested deeper than 8"},
  };
  for (const auto& [build, expect] : rows) {
    SCOPED_TRACE(expect);
    try {
      Writer w;
      build(w);
      w.finish();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  }
}

TEST(GgufGetters, ConvertWhereTheValueFitsAndNameBothTypesOtherwise) {
  Writer w;
  w.set("u8", {ValueType::U8, ValueType::U8, uint64_t{200}});
  w.set("i16", {ValueType::I16, ValueType::U8, int64_t{-5}});
  w.set("u64.big", Value::u64(std::numeric_limits<uint64_t>::max()));
  w.set("f32", Value::f32(1.5f));
  w.set("str", Value::string("s"));
  w.set("flag", Value::boolean(true));
  w.set("ints", Value::array(ValueType::U16, {{ValueType::U16, ValueType::U8, uint64_t{9}}}));
  w.set("strs", Value::strings({"a", "b"}));
  const auto f = File::open(write_file("getters.gguf", w.finish()).string());

  EXPECT_EQ(f->get_int("u8"), 200);
  EXPECT_EQ(f->get_int("i16"), -5);
  EXPECT_EQ(f->get_float("i16"), -5.0);
  EXPECT_EQ(f->get_float("f32"), 1.5);
  EXPECT_EQ(f->get_bool("flag"), true);
  EXPECT_EQ(f->get_string("str"), "s");
  EXPECT_EQ(f->get_ints("ints"), (std::vector<int64_t>{9}));
  EXPECT_EQ(f->get_floats("ints"), (std::vector<float>{9.0f}));
  EXPECT_EQ(f->get_strings("strs"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(f->get_int("missing").has_value());
  EXPECT_FALSE(f->get_strings("missing").has_value());
  EXPECT_FALSE(f->has("missing"));
  EXPECT_TRUE(f->has("str"));

  const auto error_of = [](const std::function<void()>& get) -> std::string {
    try {
      get();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const std::vector<std::pair<std::function<void()>, std::vector<std::string>>> rows = {
      {[&] { f->get_int("u64.big"); }, {"'u64.big'", "type u64", "i64"}},
      {[&] { f->get_int("f32"); }, {"'f32'", "type f32", "integer"}},
      {[&] { f->get_string("u8"); }, {"'u8'", "type u8", "expected string"}},
      {[&] { f->get_float("str"); }, {"'str'", "type string", "number"}},
      {[&] { f->get_bool("u8"); }, {"'u8'", "type u8", "expected bool"}},
      {[&] { f->get_strings("ints"); }, {"'ints'", "array of u16", "expected array of string"}},
      {[&] { f->get_ints("strs"); }, {"'strs'", "array of string", "integers"}},
      {[&] { f->get_floats("str"); }, {"'str'", "type string", "array of numbers"}},
  };
  for (const auto& [get, parts] : rows) {
    const std::string msg = error_of(get);
    for (const auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << msg;
    EXPECT_NE(msg.find("getters.gguf"), std::string::npos) << msg;
  }
}

// ---------------------------------------------------------------------------------------------
// Corrupt files

TEST(GgufCorrupt, BaseFileIsValid) {
  Bytes b = base_file();
  const auto f = File::open(write_file("base.gguf", b).string());
  EXPECT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->find_tensor("tensor.c")->offset, 160u);
  EXPECT_TRUE(*f->find("test.deep") == nested(8));
  poke<uint32_t>(b, 4, 2);  // version 2 has the same layout
  EXPECT_EQ(File::open(write_file("v2.gguf", b).string())->version(), 2u);
}

struct Corruption {
  const char* name;
  std::function<void(Bytes&)> patch;
  const char* expect;
};

const std::vector<Corruption>& corruptions() {
  static const std::vector<Corruption> rows = {
      {"bad magic", [](Bytes& b) { b[0] = 'X'; }, "not a GGUF file"},
      {"version 1", [](Bytes& b) { poke<uint32_t>(b, 4, 1); }, "GGUF version 1 is not supported"},
      {"version 4", [](Bytes& b) { poke<uint32_t>(b, 4, 4); }, "unsupported GGUF version 4 ("},
      {"version max", [](Bytes& b) { poke<uint32_t>(b, 4, 0xFFFFFFFF); },
       "unsupported GGUF version 4294967295"},
      {"big-endian", [](Bytes& b) { poke<uint32_t>(b, 4, 0x03000000); }, "big-endian GGUF file"},
      {"tensor count", [](Bytes& b) { poke<uint64_t>(b, 8, kHuge); },
       "tensor count 4611686018427387904 cannot fit"},
      {"metadata count", [](Bytes& b) { poke<uint64_t>(b, 16, kHuge); },
       "metadata count 4611686018427387904 cannot fit"},
      {"string length",
       [](Bytes& b) { poke<uint64_t>(b, value_type_at(b, "general.architecture") + 4, kHuge); },
       "string length 4611686018427387904"},
      {"array length", [](Bytes& b) { poke<uint64_t>(b, value_type_at(b, "test.list") + 8, kHuge); },
       "array length 4611686018427387904"},
      {"value type", [](Bytes& b) { poke<uint32_t>(b, value_type_at(b, "test.keyA"), 13); },
       "'test.keyA' has unknown value type 13"},
      {"array element type", [](Bytes& b) { poke<uint32_t>(b, value_type_at(b, "test.list") + 4, 77); },
       "is an array of unknown value type 77"},
      {"bool value", [](Bytes& b) { b[value_type_at(b, "test.flag") + 4] = 2; }, "bool value 2"},
      {"nesting depth",
       [](Bytes& b) {
         const size_t innermost = value_type_at(b, "test.deep") + 4 + 12 * 7;
         poke<uint32_t>(b, innermost, static_cast<uint32_t>(ValueType::ARRAY));
         poke<uint64_t>(b, innermost + 4, 1);
       },
       "nested deeper than 8 levels"},
      {"duplicate key", [](Bytes& b) { b[find_bytes(b, "test.keyB") + 8] = 'A'; },
       "duplicate metadata key 'test.keyA'"},
      {"alignment type", [](Bytes& b) { poke<uint32_t>(b, value_type_at(b, "general.alignment"), 5); },
       "general.alignment has type i32, expected u32"},
      {"alignment 48", [](Bytes& b) { poke<uint32_t>(b, value_type_at(b, "general.alignment") + 4, 48); },
       "general.alignment is 48, which is not a non-zero power of two"},
      {"alignment 0", [](Bytes& b) { poke<uint32_t>(b, value_type_at(b, "general.alignment") + 4, 0); },
       "general.alignment is 0,"},
      {"duplicate tensor", [](Bytes& b) { b[find_bytes(b, "tensor.b") + 7] = 'a'; },
       "duplicate tensor name 'tensor.a'"},
      {"n_dims 5", [](Bytes& b) { poke<uint32_t>(b, info_at(b, "tensor.c").n_dims, 5); },
       "'tensor.c' has 5 dimensions"},
      {"n_dims 0", [](Bytes& b) { poke<uint32_t>(b, info_at(b, "tensor.c").n_dims, 0); },
       "'tensor.c' has 0 dimensions"},
      {"n_dims huge", [](Bytes& b) { poke<uint32_t>(b, info_at(b, "tensor.c").n_dims, 0xFFFFFFFF); },
       "has 4294967295 dimensions"},
      {"dims huge", [](Bytes& b) { poke<uint64_t>(b, info_at(b, "tensor.a").dims + 8, kHuge); },
       "[8, 4611686018427387904]: too many elements"},
      {"dims negative", [](Bytes& b) { poke<int64_t>(b, info_at(b, "tensor.a").dims, -8); },
       "dimension 0 is negative (-8)"},
      {"type Q2_K", [](Bytes& b) { poke<uint32_t>(b, info_at(b, "tensor.b").type, 10); },
       "'tensor.b' has type Q2_K (GGML type 10), which isomer does not support"},
      {"type 99", [](Bytes& b) { poke<uint32_t>(b, info_at(b, "tensor.b").type, 99); },
       "(GGML type 99)"},
      {"block size", [](Bytes& b) { poke<int64_t>(b, info_at(b, "tensor.b").dims, 33); },
       "rows of 33 elements are not a multiple of the Q8_0 block size 32"},
      {"out of bounds", [](Bytes& b) { poke<uint64_t>(b, info_at(b, "tensor.c").offset, 1 << 20); },
       "'tensor.c' data (offset 1048576"},
      {"offset overflow", [](Bytes& b) { poke<uint64_t>(b, info_at(b, "tensor.c").offset, ~uint64_t{31}); },
       "(offset 18446744073709551584"},
      {"size past end", [](Bytes& b) { poke<int64_t>(b, info_at(b, "tensor.c").dims, 64); },
       "'tensor.c' data (offset 160, 256 bytes"},
      {"overlap", [](Bytes& b) { poke<uint64_t>(b, info_at(b, "tensor.b").offset, 32); },
       "tensors 'tensor.a' (bytes 0..64) and 'tensor.b' (bytes 32..100) overlap"},
      {"misaligned", [](Bytes& b) { poke<uint64_t>(b, info_at(b, "tensor.b").offset, 65); },
       "'tensor.b' offset 65 is not a multiple of the alignment 32"},
  };
  return rows;
}

TEST(GgufCorrupt, EachCorruptionHasItsOwnError) {
  const Bytes base = base_file();
  const auto& rows = corruptions();
  std::set<std::string> expects;
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(rows[i].name);
    EXPECT_TRUE(expects.insert(rows[i].expect).second) << "expected substrings must differ";
    Bytes b = base;
    rows[i].patch(b);
    const std::string file = "corrupt-" + std::to_string(i) + ".gguf";
    const std::string msg = open_error(b, file);
    ASSERT_FALSE(msg.empty()) << "opened without an error";
    EXPECT_NE(msg.find(rows[i].expect), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind(temp_path(file).string() + ": ", 0), 0u) << "names the file: " << msg;
    for (size_t j = 0; j < rows.size(); ++j) {
      if (j != i) {
        EXPECT_EQ(msg.find(rows[j].expect), std::string::npos) << "looks like " << rows[j].name;
      }
    }
  }
}

TEST(GgufCorrupt, ErrorsNameTheFile) {
  const std::string missing = temp_path("does-not-exist.gguf").string();
  try {
    File::open(missing);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing + ": cannot open"), std::string::npos) << e.what();
  }
  EXPECT_NE(open_error({}, "empty.gguf").find("empty.gguf: file is empty"), std::string::npos);
  EXPECT_THROW(File::open(temp_path("").string()), Error);  // a directory
}

// Cutting the file anywhere before the end of the last tensor's data must be an Error; the
// padding after it is not needed.
TEST(GgufCorrupt, TruncatedAtEveryOffset) {
  const Bytes base = base_file();
  const auto f = File::open(write_file("whole.gguf", base).string());
  const uint64_t data_end = f->data_offset() + 160 + 16;
  ASSERT_LT(data_end, base.size());
  for (uint64_t n = 0; n < base.size(); ++n) {
    const std::string msg = open_error(Bytes(base.begin(), base.begin() + n), "cut.gguf");
    if (n < data_end) {
      EXPECT_FALSE(msg.empty()) << "cut at " << n;
      EXPECT_NE(msg.find("cut.gguf: "), std::string::npos) << msg;
    } else {
      EXPECT_EQ(msg, "") << "cut at " << n;
    }
  }
  EXPECT_NE(open_error(Bytes(base.begin(), base.begin() + 10)).find("truncated at byte 8"),
            std::string::npos);
}

TEST(GgufCorrupt, TruncatedRealModel) {
  const Bytes whole = read_file(test::model_path("stories260K.gguf"));
  const auto f = File::open(test::model_path("stories260K.gguf").string());
  const uint64_t header = f->data_offset();
  std::vector<uint64_t> cuts;
  for (uint64_t n = 0; n < 512; ++n) cuts.push_back(n);
  for (uint64_t n = 512; n < header; n += 13) cuts.push_back(n);
  for (uint64_t n = header; n < whole.size(); n += (whole.size() - header) / 40) cuts.push_back(n);
  cuts.push_back(whole.size() - 1);
  for (uint64_t n : cuts)
    EXPECT_FALSE(open_error(Bytes(whole.begin(), whole.begin() + n), "cut-model.gguf").empty())
        << "cut at " << n;
}

// Every single-byte change in the header region is either harmless or an Error, never a crash
// (run under the sanitizers, this also checks every access stays inside the mapping).
TEST(GgufCorrupt, ByteFlipsInTheHeaderRegion) {
  const Bytes base = base_file();
  const size_t header = File::open(write_file("flip-base.gguf", base).string())->data_offset();
  for (size_t i = 0; i < header; ++i)
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xFF}, uint8_t{0x80}}) {
      Bytes b = base;
      b[i] = v;
      try {
        File::open(write_file("flip.gguf", b).string());
      } catch (const Error&) {
      }
    }
}

}  // namespace
}  // namespace isomer::gguf
