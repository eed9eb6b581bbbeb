// GGUF reader: maps the file read-only and validates every field before trusting it. Counts and
// lengths are checked against the bytes left in the file before anything is allocated for them.
#include "gguf/format.h"

#include <isomer/error.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

namespace isomer::gguf {
namespace {

using format::is_valid_type;

// Smallest possible encodings, used to reject counts the rest of the file cannot hold.
constexpr uint64_t kMinMetadataBytes = 8 + 4 + 1;          // key length, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, 1 dim, type, offset

class Parser {
 public:
  Parser(const std::string& path, const uint8_t* base, uint64_t size)
      : path_(path), base_(base), size_(size) {}

  template <class... Args>
  [[noreturn]] void error(fmt::format_string<Args...> format, Args&&... args) const {
    fail("{}: {}", path_, fmt::format(format, std::forward<Args>(args)...));
  }

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return size_; }
  uint64_t left() const { return size_ - pos_; }

  template <class T>
  T read() {
    if (left() < sizeof(T))
      error("truncated at byte {} while reading {} ({} bytes needed, {} left)", pos_, where, sizeof(T),
            left());
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string() {
    const uint64_t at = pos_;
    const auto len = read<uint64_t>();
    if (len > left())
      error("string length {} at byte {} in {} exceeds the {} bytes left in the file", len, at, where,
            left());
    if (len > format::kMaxStringBytes)
      error("string length {} at byte {} in {} exceeds the limit of {} bytes", len, at, where,
            format::kMaxStringBytes);
    std::string s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }

  Value read_value(ValueType type, int depth) {
    Value v;
    v.type = type;
    switch (type) {
      case ValueType::U8: v.data = uint64_t{read<uint8_t>()}; break;
      case ValueType::U16: v.data = uint64_t{read<uint16_t>()}; break;
      case ValueType::U32: v.data = uint64_t{read<uint32_t>()}; break;
      case ValueType::U64: v.data = read<uint64_t>(); break;
      case ValueType::I8: v.data = int64_t{read<int8_t>()}; break;
      case ValueType::I16: v.data = int64_t{read<int16_t>()}; break;
      case ValueType::I32: v.data = int64_t{read<int32_t>()}; break;
      case ValueType::I64: v.data = read<int64_t>(); break;
      case ValueType::F32: v.data = double{read<float>()}; break;
      case ValueType::F64: v.data = read<double>(); break;
      case ValueType::BOOL: {
        const auto b = read<uint8_t>();
        if (b > 1) error("bool value {} at byte {} in {} is not 0 or 1", b, pos_ - 1, where);
        v.data = b == 1;
        break;
      }
      case ValueType::STRING: v.data = read_string(); break;
      case ValueType::ARRAY: v = read_array(depth); break;
    }
    return v;
  }

  std::string where = "the header";  // what is being read, for error messages

 private:
  Value read_array(int depth) {
    if (depth >= format::kMaxArrayDepth)
      error("{} has arrays nested deeper than {} levels", where, format::kMaxArrayDepth);
    const auto elem = read<uint32_t>();
    if (!is_valid_type(elem)) error("{} is an array of unknown value type {}", where, elem);
    const uint64_t at = pos_;
    const auto count = read<uint64_t>();
    const auto elem_type = static_cast<ValueType>(elem);
    const uint64_t min_size = format::min_encoded_size(elem_type);
    uint64_t need = 0;
    if (__builtin_mul_overflow(count, min_size, &need) || need > left())
      error("array length {} at byte {} in {} cannot fit in the {} bytes left ({} elements take at "
            "least {} bytes each)",
            count, at, where, left(), value_type_name(elem_type), min_size);
    Value::Array elems;
    elems.reserve(count);
    for (uint64_t i = 0; i < count; ++i) elems.push_back(read_value(elem_type, depth + 1));
    return Value::array(elem_type, std::move(elems));
  }

  const std::string& path_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// Checks magic and version; returns the version.
uint32_t check_header(Parser& p, const uint8_t* base) {
  const auto magic = p.read<uint32_t>();
  if (magic != format::kMagic)
    p.error("not a GGUF file (starts with bytes {:02x} {:02x} {:02x} {:02x}, expected \"GGUF\")",
            base[0], base[1], base[2], base[3]);
  const auto version = p.read<uint32_t>();
  if (version == 1) p.error("GGUF version 1 is not supported (only versions 2 and 3 are)");
  const uint32_t swapped = __builtin_bswap32(version);
  if (swapped >= 1 && swapped <= 3)
    p.error("big-endian GGUF file (version field {:#010x}); only little-endian files are supported",
            version);
  if (version != 2 && version != 3)
    p.error("unsupported GGUF version {} (only versions 2 and 3 are supported)", version);
  return version;
}

std::pair<std::string, Value> read_metadata_entry(Parser& p, uint64_t index) {
  p.where = fmt::format("metadata entry {}", index);
  std::string key = p.read_string();
  p.where = fmt::format("metadata '{}'", key);
  const auto type = p.read<uint32_t>();
  if (!is_valid_type(type)) p.error("{} has unknown value type {}", p.where, type);
  Value value = p.read_value(static_cast<ValueType>(type), 0);
  return {std::move(key), std::move(value)};
}

uint64_t alignment_of(const Parser& p, const Value& value) {
  if (value.type != ValueType::U32)
    p.error("{} has type {}, expected u32", format::kAlignmentKey, format::describe(value));
  const auto alignment = std::get<uint64_t>(value.data);
  if (!format::is_power_of_two(alignment))
    p.error("{} is {}, which is not a non-zero power of two", format::kAlignmentKey, alignment);
  return alignment;
}

// Name, shape, type and offset; the offset is checked later, once the data section is known.
TensorInfo read_tensor_info(Parser& p, uint64_t index) {
  p.where = fmt::format("tensor info {}", index);
  TensorInfo t;
  t.name = p.read_string();
  p.where = fmt::format("tensor '{}'", t.name);
  const auto n_dims = p.read<uint32_t>();
  if (n_dims == 0 || n_dims > format::kMaxDims)
    p.error("tensor '{}' has {} dimensions (expected 1 to {})", t.name, n_dims, format::kMaxDims);
  t.dims.resize(n_dims);
  for (auto& d : t.dims) d = static_cast<int64_t>(p.read<uint64_t>());
  const auto type_id = p.read<uint32_t>();
  t.offset = p.read<uint64_t>();
  const auto traits = dtype_traits(type_id);
  if (!traits)
    p.error("tensor '{}' has type {} (GGML type {}), which isomer does not support", t.name,
            ggml_type_name(type_id), type_id);
  t.type = static_cast<DType>(type_id);
  const auto size = format::tensor_size(*traits, t.dims);
  if (!size.problem.empty()) p.error("tensor '{}' {}: {}", t.name, t.shape_string(), size.problem);
  t.nbytes = size.nbytes;
  return t;
}

// Checks that every tensor's data is aligned, inside the file and overlaps no other tensor,
// and points the tensors at it.
void place_tensors(const Parser& p, std::vector<TensorInfo>& tensors, const uint8_t* base,
                   uint64_t data_offset, uint64_t align) {
  for (auto& t : tensors) {
    if (t.offset % align != 0)
      p.error("tensor '{}' offset {} is not a multiple of the alignment {}", t.name, t.offset, align);
    uint64_t start = 0, end = 0;
    if (__builtin_add_overflow(data_offset, t.offset, &start) ||
        __builtin_add_overflow(start, t.nbytes, &end) || end > p.size())
      p.error("tensor '{}' data (offset {}, {} bytes, data section at byte {}) extends past the end "
              "of the file ({} bytes)",
              t.name, t.offset, t.nbytes, data_offset, p.size());
    t.data = base + start;
  }

  std::vector<const TensorInfo*> order;
  order.reserve(tensors.size());
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  const TensorInfo* last = nullptr;  // the non-empty tensor ending furthest so far
  for (const TensorInfo* t : order) {
    if (t->nbytes == 0) continue;
    if (last && t->offset < last->offset + last->nbytes)
      p.error("tensors '{}' (bytes {}..{}) and '{}' (bytes {}..{}) overlap in the data section",
              last->name, last->offset, last->offset + last->nbytes, t->name, t->offset,
              t->offset + t->nbytes);
    if (!last || t->offset + t->nbytes > last->offset + last->nbytes) last = t;
  }
}

// Integer metadata as int64, whatever integer type the file stored it in.
std::optional<int64_t> as_int64(const Value& v) {
  if (format::is_signed(v.type)) return std::get<int64_t>(v.data);
  if (format::is_unsigned(v.type)) {
    const auto u = std::get<uint64_t>(v.data);
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return static_cast<int64_t>(u);
  }
  return std::nullopt;
}

std::optional<double> as_double(const Value& v) {
  if (v.type == ValueType::F32 || v.type == ValueType::F64) return std::get<double>(v.data);
  if (format::is_signed(v.type)) return static_cast<double>(std::get<int64_t>(v.data));
  if (format::is_unsigned(v.type)) return static_cast<double>(std::get<uint64_t>(v.data));
  return std::nullopt;
}

// Reads `size` bytes of `fd` into `dst` in chunks, reporting progress after each.
void read_whole(int fd, const std::string& path, uint8_t* dst, size_t size,
                const std::function<void(uint64_t, uint64_t)>& on_read) {
  constexpr size_t kChunk = size_t{64} << 20;
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::pread(fd, dst + done, std::min(kChunk, size - done), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("{}: cannot read: {}", path, std::strerror(errno));
    if (n == 0) fail("{}: the file shrank while it was read ({} of {} bytes)", path, done, size);
    done += static_cast<size_t>(n);
    if (on_read) on_read(done, size);
  }
}

// Asks for the weights in 2 MiB pages, one TLB entry each. A mapped file's first read then fills
// the page cache with 2 MiB folios, mapped whole. Without the advice a first run left 37-39 %
// of the file in 2 MiB runs of pages, and TinyLlama-shaped F16 generation ran 0.71x as fast
// (2-vCPU AMD Zen 5 VM, docs/BENCHMARKS.md). Pages cached before the file was mapped keep their
// size: that kernel (no read-only file THP) did not merge a regular file's.
void advise_huge_pages(void* p, size_t size) {
#ifdef MADV_HUGEPAGE
  ::madvise(p, size, MADV_HUGEPAGE);
#else
  (void)p, (void)size;
#endif
}

}  // namespace

std::unique_ptr<File> File::open(const std::string& path, const OpenOptions& options) {
  std::unique_ptr<File> file(new File());
  file->path_ = path;

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", path);
  }
  if (st.st_size == 0) {
    ::close(fd);
    fail("{}: file is empty (truncated before the GGUF header)", path);
  }
  const auto size = static_cast<size_t>(st.st_size);
  void* map = options.use_mmap ? mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0)
                               : mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const int map_errno = errno;
  if (map == MAP_FAILED) {
    ::close(fd);
    fail("{}: cannot {}: {}", path, options.use_mmap ? "map" : "allocate memory for", std::strerror(map_errno));
  }
  advise_huge_pages(map, size);
  file->base_ = static_cast<const uint8_t*>(map);  // unmapped by ~File from here on
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (!options.use_mmap) {
    try {
      read_whole(fd, path, static_cast<uint8_t*>(map), size, options.on_read);
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  ::close(fd);  // a mapping stays valid without the descriptor

  Parser p(file->path_, file->base_, file->size_);
  file->version_ = check_header(p, file->base_);
  const auto n_tensors = p.read<uint64_t>();
  const auto n_kv = p.read<uint64_t>();
  uint64_t need = 0;
  if (__builtin_mul_overflow(n_kv, kMinMetadataBytes, &need) || need > p.left())
    p.error("metadata count {} cannot fit in the {} bytes after the header", n_kv, p.left());
  if (__builtin_mul_overflow(n_tensors, kMinTensorInfoBytes, &need) || need > p.left())
    p.error("tensor count {} cannot fit in the {} bytes after the header", n_tensors, p.left());

  file->kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    auto [key, value] = read_metadata_entry(p, i);
    if (!file->kv_index_.emplace(key, file->kv_.size()).second)
      p.error("duplicate metadata key '{}'", key);
    if (key == format::kAlignmentKey) file->alignment_ = alignment_of(p, value);
    file->kv_.emplace_back(std::move(key), std::move(value));
  }

  file->tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t = read_tensor_info(p, i);
    if (!file->tensor_index_.emplace(t.name, file->tensors_.size()).second)
      p.error("duplicate tensor name '{}'", t.name);
    file->tensors_.push_back(std::move(t));
  }

  // pos <= size < 2^63 and alignment < 2^32, so this cannot overflow.
  const uint64_t align = file->alignment_;
  file->data_offset_ = (p.pos() + align - 1) / align * align;
  place_tensors(p, file->tensors_, file->base_, file->data_offset_, align);
  return file;
}

File::~File() {
  if (base_) munmap(const_cast<uint8_t*>(base_), static_cast<size_t>(size_));
}

const Value* File::find(std::string_view key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

[[noreturn]] void wrong_type(const std::string& path, std::string_view key, const Value& v,
                             std::string_view expected) {
  fail("{}: metadata '{}' has type {}, expected {}", path, key, format::describe(v), expected);
}

}  // namespace

std::optional<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::STRING) wrong_type(path_, key, *v, "string");
  return std::get<std::string>(v->data);
}

std::optional<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  const auto i = as_int64(*v);
  if (!i) wrong_type(path_, key, *v, "an integer that fits in i64");
  return i;
}

std::optional<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  const auto d = as_double(*v);
  if (!d) wrong_type(path_, key, *v, "a number");
  return d;
}

std::optional<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::BOOL) wrong_type(path_, key, *v, "bool");
  return std::get<bool>(v->data);
}

std::optional<std::vector<std::string>> File::get_strings(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::ARRAY || v->array_type != ValueType::STRING)
    wrong_type(path_, key, *v, "array of string");
  std::vector<std::string> out;
  const auto& elems = std::get<Value::Array>(v->data);
  out.reserve(elems.size());
  for (const auto& e : elems) out.push_back(std::get<std::string>(e.data));
  return out;
}

std::optional<std::vector<float>> File::get_floats(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::ARRAY) wrong_type(path_, key, *v, "array of numbers");
  std::vector<float> out;
  const auto& elems = std::get<Value::Array>(v->data);
  out.reserve(elems.size());
  for (const auto& e : elems) {
    const auto d = as_double(e);
    if (!d) wrong_type(path_, key, *v, "array of numbers");
    out.push_back(static_cast<float>(*d));
  }
  return out;
}

std::optional<std::vector<int64_t>> File::get_ints(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != ValueType::ARRAY) wrong_type(path_, key, *v, "array of integers");
  std::vector<int64_t> out;
  const auto& elems = std::get<Value::Array>(v->data);
  out.reserve(elems.size());
  for (const auto& e : elems) {
    const auto i = as_int64(e);
    if (!i) wrong_type(path_, key, *v, "array of integers that fit in i64");
    out.push_back(*i);
  }
  return out;
}

}  // namespace isomer::gguf
