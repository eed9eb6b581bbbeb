// GGUF v3 writer. It checks what it is given against the same rules as the reader, so every
// file it writes reads back exactly.
#include "gguf/format.h"

#include <isomer/error.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace isomer::gguf {
namespace {

uint64_t padding(uint64_t n, uint64_t alignment) { return (alignment - n % alignment) % alignment; }

class Encoder {
 public:
  explicit Encoder(std::vector<uint8_t>& out) : out_(out) {}

  template <class T>
  void put(T v) {
    // resize + memcpy rather than insert: GCC 12 warns falsely (-Wstringop-overflow) on insert.
    const size_t at = out_.size();
    out_.resize(at + sizeof(T));
    std::memcpy(out_.data() + at, &v, sizeof(T));
  }

  void put_string(std::string_view s, std::string_view what) {
    if (s.size() > format::kMaxStringBytes)
      fail("gguf writer: {}: string of {} bytes exceeds the limit of {} bytes", what, s.size(),
           format::kMaxStringBytes);
    put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }

  // `key` names the metadata entry in errors.
  void put_value(const Value& v, std::string_view key, int depth) {
    switch (v.type) {
      case ValueType::U8: put(integer<uint8_t>(v, key)); break;
      case ValueType::U16: put(integer<uint16_t>(v, key)); break;
      case ValueType::U32: put(integer<uint32_t>(v, key)); break;
      case ValueType::U64: put(integer<uint64_t>(v, key)); break;
      case ValueType::I8: put(integer<int8_t>(v, key)); break;
      case ValueType::I16: put(integer<int16_t>(v, key)); break;
      case ValueType::I32: put(integer<int32_t>(v, key)); break;
      case ValueType::I64: put(integer<int64_t>(v, key)); break;
      case ValueType::F32: put(static_cast<float>(held<double>(v, key))); break;
      case ValueType::F64: put(held<double>(v, key)); break;
      case ValueType::BOOL: put<uint8_t>(held<bool>(v, key) ? 1 : 0); break;
      case ValueType::STRING: put_string(held<std::string>(v, key), key); break;
      case ValueType::ARRAY: {
        if (depth >= format::kMaxArrayDepth)
          fail("gguf writer: metadata '{}' has arrays nested deeper than {} levels", key,
               format::kMaxArrayDepth);
        if (!format::is_valid_type(static_cast<uint32_t>(v.array_type)))
          fail("gguf writer: metadata '{}' is an array of unknown value type {}", key,
               static_cast<uint32_t>(v.array_type));
        const auto& elems = held<Value::Array>(v, key);
        put(static_cast<uint32_t>(v.array_type));
        put<uint64_t>(elems.size());
        for (const auto& e : elems) {
          if (e.type != v.array_type)
            fail("gguf writer: metadata '{}' is an array of {} but holds a {}", key,
                 value_type_name(v.array_type), format::describe(e));
          put_value(e, key, depth + 1);
        }
        break;
      }
      default:
        fail("gguf writer: metadata '{}' has unknown value type {}", key,
             static_cast<uint32_t>(v.type));
    }
  }

 private:
  template <class T>
  static const T& held(const Value& v, std::string_view key) {
    if (const T* p = std::get_if<T>(&v.data)) return *p;
    fail("gguf writer: metadata '{}' of type {} holds a value of another kind", key,
         value_type_name(v.type));
  }

  template <class T>
  static T integer(const Value& v, std::string_view key) {
    const auto fits = [&](auto x) {
      if (!std::in_range<T>(x))
        fail("gguf writer: metadata '{}' value {} does not fit in {}", key, x,
             value_type_name(v.type));
      return static_cast<T>(x);
    };
    if (const auto* u = std::get_if<uint64_t>(&v.data)) return fits(*u);
    if (const auto* i = std::get_if<int64_t>(&v.data)) return fits(*i);
    fail("gguf writer: metadata '{}' of type {} holds a non-integer value", key,
         value_type_name(v.type));
  }

  std::vector<uint8_t>& out_;
};

void write_all(int fd, const uint8_t* p, uint64_t n, const std::string& tmp) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<uint64_t>(n, uint64_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail("{}: cannot write: {}", tmp, std::strerror(errno));
    p += w;
    n -= static_cast<uint64_t>(w);
  }
}

void write_zeros(int fd, uint64_t n, const std::string& tmp) {
  static constexpr std::array<uint8_t, 4096> kZeros{};
  for (uint64_t chunk; n > 0; n -= chunk) {
    chunk = std::min<uint64_t>(n, kZeros.size());
    write_all(fd, kZeros.data(), chunk, tmp);
  }
}

}  // namespace

void Writer::set(std::string key, Value value) {
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(std::move(key), std::move(value));
}

void Writer::add_tensor(std::string name, DType type, std::vector<int64_t> dims,
                        std::span<const uint8_t> data) {
  for (const auto& t : tensors_)
    if (t.name == name) fail("gguf writer: duplicate tensor name '{}'", name);
  const auto traits = dtype_traits(static_cast<uint32_t>(type));
  if (!traits)
    fail("gguf writer: tensor '{}' has unsupported type {}", name,
         ggml_type_name(static_cast<uint32_t>(type)));
  if (dims.empty() || dims.size() > format::kMaxDims)
    fail("gguf writer: tensor '{}' has {} dimensions (expected 1 to {})", name, dims.size(),
         format::kMaxDims);
  const auto size = format::tensor_size(*traits, dims);
  if (!size.problem.empty())
    fail("gguf writer: tensor '{}' {}: {}", name, format::shape_string(dims), size.problem);
  if (data.size() != size.nbytes)
    fail("gguf writer: tensor '{}' {} of type {} needs {} bytes of data, got {}", name,
         format::shape_string(dims), traits->name, size.nbytes, data.size());
  tensors_.push_back({std::move(name), type, std::move(dims), {data.begin(), data.end()}});
}

uint64_t Writer::alignment() const {
  for (const auto& [k, v] : kv_) {
    if (k != format::kAlignmentKey) continue;
    const auto* a = std::get_if<uint64_t>(&v.data);
    if (v.type != ValueType::U32 || !a)
      fail("gguf writer: {} has type {}, expected u32", k, format::describe(v));
    if (!format::is_power_of_two(*a) || *a > UINT32_MAX)
      fail("gguf writer: {} is {}, which is not a non-zero power of two", k, *a);
    return *a;
  }
  return format::kDefaultAlignment;
}

std::vector<uint8_t> Writer::encode_header(uint64_t alignment) const {
  std::vector<uint8_t> out;
  Encoder e(out);
  e.put(format::kMagic);
  e.put(format::kVersion);
  e.put<uint64_t>(tensors_.size());
  e.put<uint64_t>(kv_.size());
  for (const auto& [key, value] : kv_) {
    e.put_string(key, "metadata key");
    e.put(static_cast<uint32_t>(value.type));
    e.put_value(value, key, 0);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    e.put_string(t.name, "tensor name");
    e.put(static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) e.put(d);
    e.put(static_cast<uint32_t>(t.type));
    e.put(offset);
    offset += t.data.size() + padding(t.data.size(), alignment);
  }
  // Like llama.cpp, a file without tensors ends at its metadata, unpadded.
  if (!tensors_.empty()) out.resize(out.size() + padding(out.size(), alignment));
  return out;
}

std::vector<uint8_t> Writer::finish() const {
  const uint64_t align = alignment();
  std::vector<uint8_t> out = encode_header(align);
  size_t total = out.size();
  for (const auto& t : tensors_) total += t.data.size() + padding(t.data.size(), align);
  out.reserve(total);
  for (const auto& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize(out.size() + padding(out.size(), align));
  }
  return out;
}

void Writer::write(const std::string& path) const {
  const uint64_t align = alignment();
  const std::vector<uint8_t> header = encode_header(align);
  std::string tmp = path + ".XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) fail("{}: cannot create a temporary file beside it: {}", path, std::strerror(errno));
  try {
    if (fchmod(fd, 0644) != 0) fail("{}: cannot set permissions: {}", tmp, std::strerror(errno));
    write_all(fd, header.data(), header.size(), tmp);
    for (const auto& t : tensors_) {
      write_all(fd, t.data.data(), t.data.size(), tmp);
      write_zeros(fd, padding(t.data.size(), align), tmp);
    }
    if (fsync(fd) != 0) fail("{}: cannot sync: {}", tmp, std::strerror(errno));
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail("{}: cannot close: {}", tmp, std::strerror(errno));
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      fail("{}: cannot rename {} to it: {}", path, tmp, std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace isomer::gguf
