// GGUF (v2 and v3) reader and writer. The reader maps the file and hands out zero-copy views
// of tensor data; every count, length, offset and size is checked against the file size with
// overflow-safe arithmetic, so a corrupt or truncated file is an isomer::Error naming the file
// and what is wrong, never a crash.
#pragma once

#include <isomer/ops/dtype.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace isomer::gguf {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
std::string_view value_type_name(ValueType type);

// One metadata value. Integers are widened to 64 bits, floats to double; `type` keeps the
// type stored in the file so a writer can reproduce it. Arrays hold one element type.
struct Value {
  using Array = std::vector<Value>;
  ValueType type = ValueType::U8;
  ValueType array_type = ValueType::U8;  // element type when type == ARRAY
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> data;

  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value u64(uint64_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value string(std::string v);
  static Value array(ValueType elem_type, Array elems);
  static Value strings(std::vector<std::string> v);
  static Value f32s(std::span<const float> v);
  static Value i32s(std::span<const int32_t> v);

  // Same stored type and same value (for arrays: element type and every element).
  friend bool operator==(const Value&, const Value&) = default;
};

struct TensorInfo {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> dims;  // GGUF order: dims[0] is the innermost (contiguous) dimension
  uint64_t offset = 0;        // relative to the start of the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // zero-copy view into the mapped file

  int64_t elements() const;
  std::string shape_string() const;  // e.g. "[64, 512]"
};

class File {
 public:
  struct OpenOptions {
    // Map the file (pages load on demand and are shared with the page cache) or read it whole
    // into private memory (for file systems where mapping is slow or unsupported).
    bool use_mmap = true;
    // Called while reading without mmap with (bytes read, file size); may throw to cancel.
    std::function<void(uint64_t, uint64_t)> on_read;
  };
  // Maps (or reads) and validates `path`. Throws isomer::Error with the path and the problem.
  static std::unique_ptr<File> open(const std::string& path, const OpenOptions& options);
  static std::unique_ptr<File> open(const std::string& path) { return open(path, OpenOptions{}); }
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata, in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: nullopt when the key is absent; isomer::Error naming the key when present
  // with an incompatible type (any integer type converts to another when the value fits).
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // accepts integer values too
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::vector<std::string>> get_strings(std::string_view key) const;
  std::optional<std::vector<float>> get_floats(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_ints(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  File() = default;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t size_ = 0;
  uint64_t data_offset_ = 0;
  const uint8_t* base_ = nullptr;
  std::vector<std::pair<std::string, Value>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Builds a GGUF v3 file in memory or on disk. Tensor data is aligned to `general.alignment`
// (32 unless set in the metadata before finishing).
class Writer {
 public:
  void set(std::string key, Value value);  // replaces an existing key, keeps first position
  // dims in GGUF order (innermost first); data must hold row_bytes(type, dims[0]) * rows bytes.
  void add_tensor(std::string name, DType type, std::vector<int64_t> dims,
                  std::span<const uint8_t> data);
  // Declares a tensor whose data write(path, source) asks for when it gets to it, so that a
  // file larger than memory can be written one tensor at a time.
  void declare_tensor(std::string name, DType type, std::vector<int64_t> dims);
  // For finish() and write(path): every tensor must have been added with its data.
  std::vector<uint8_t> finish() const;
  void write(const std::string& path) const;  // atomic: writes a temp file, then renames
  // Fills `out` (exactly the tensor's size) with the data of declared tensor number `index`
  // (its position among all tensors, declared or added).
  using TensorSource = std::function<void(size_t index, std::span<uint8_t> out)>;
  void write(const std::string& path, const TensorSource& source) const;

 private:
  uint64_t alignment() const;
  // Header, metadata and tensor infos, padded to the start of the data section.
  std::vector<uint8_t> encode_header(uint64_t alignment) const;

  std::vector<std::pair<std::string, Value>> kv_;
  // Checks a new tensor's name, type and dims; returns its size in bytes.
  uint64_t check_tensor(const std::string& name, DType type,
                        const std::vector<int64_t>& dims) const;

  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> dims;
    uint64_t nbytes = 0;
    bool declared = false;  // data comes from write()'s source
    std::vector<uint8_t> data;
  };
  std::vector<Tensor> tensors_;
};

}  // namespace isomer::gguf
