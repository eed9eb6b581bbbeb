// llama-quantize's type choices (llama.cpp src/llama-quant.cpp: the `quantize` test in
// llama_model_quantize_impl and llama_tensor_get_type) for the file types isomer writes, and
// whole-file conversion with them.
#include <isomer/error.h>
#include <isomer/gguf.h>
#include <isomer/quantize.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <thread>

namespace isomer::quantize {
namespace {

// In llama.cpp's LLAMA_FTYPE numbering.
constexpr uint32_t kQ4_K_M = 15, kQ5_K_M = 17;

constexpr std::array<FileType, 11> kTypes{{
    {"f32", DType::F32, 0},     {"f16", DType::F16, 1},     {"bf16", DType::BF16, 32},
    {"q8_0", DType::Q8_0, 7},   {"q6_k", DType::Q6_K, 18},  {"q5_k_m", DType::Q5_K, kQ5_K_M},
    {"q5_1", DType::Q5_1, 9},   {"q5_0", DType::Q5_0, 8},   {"q4_k_m", DType::Q4_K, kQ4_K_M},
    {"q4_1", DType::Q4_1, 3},   {"q4_0", DType::Q4_0, 2},
}};

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// The N of "blk.N.", or -1.
int layer_of(std::string_view name) {
  if (!name.starts_with("blk.")) return -1;
  int layer = -1;
  const char* begin = name.data() + 4;
  const auto [end, ec] = std::from_chars(begin, name.data() + name.size(), layer);
  return ec == std::errc() && end < name.data() + name.size() && *end == '.' ? layer : -1;
}

// llama.cpp's use_more_bits(): the first and last eighth of the layers, and every third one
// in between.
bool use_more_bits(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

bool is_quantized(DType t) { return traits(t).quantized; }

}  // namespace

std::span<const FileType> file_types() { return kTypes; }

std::vector<std::string> file_type_names() {
  std::vector<std::string> out;
  for (const FileType& t : kTypes) out.emplace_back(t.name);
  return out;
}

const FileType& find_file_type(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const FileType& t : kTypes)
    if (t.name == lower) return t;
  fail("unknown weight type '{}' (known: {})", name, fmt::join(file_type_names(), ", "));
}

std::string ftype_description(uint32_t ftype) {
  switch (ftype & ~1024u) {  // 1024: LLAMA_FTYPE_GUESSED
    case 0: return "all F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K - Medium";
    case 11: return "Q3_K - Small";
    case 12: return "Q3_K - Medium";
    case 13: return "Q3_K - Large";
    case 14: return "Q4_K - Small";
    case 15: return "Q4_K - Medium";
    case 16: return "Q5_K - Small";
    case 17: return "Q5_K - Medium";
    case 18: return "Q6_K";
    case 21: return "Q2_K - Small";
    case 32: return "BF16";
    default: return "unknown";
  }
}

bool converts(std::string_view name, size_t n_dims) {
  return name.ends_with("weight") && n_dims >= 2 && !contains(name, "_norm.weight") &&
         !contains(name, "ffn_gate_inp.weight") && !contains(name, "altup") &&
         !contains(name, "laurel") && !contains(name, "per_layer_model_proj") &&
         name != "position_embd.weight" && name != "token_types.weight" &&
         !contains(name, "ssm_conv1d.weight") && !contains(name, "attn_rel_b.weight");
}

Choice choose(const FileType& ft, std::string_view name, std::span<const int64_t> dims,
              DType current, const ModelInfo& model) {
  if (!converts(name, dims.size())) return {current, {}, false};
  DType type = ft.base;
  // llama_tensor_get_type() is only asked for quantised file types.
  if (!is_quantized(ft.base)) return {type, {}, false};
  const int64_t cols = dims[0];
  const int layer = layer_of(name);
  const bool k_mix = ft.ftype == kQ4_K_M || ft.ftype == kQ5_K_M;
  if (name == "output.weight" || (!model.has_output && name == "token_embd.weight")) {
    // The output matrix (or the token embeddings standing in for it): Q6_K, unless the file
    // is Q8_0 or the rows do not hold the file type's blocks.
    if (cols % traits(ft.base).block_elems != 0) type = DType::Q8_0;
    else if (type != DType::Q8_0) type = DType::Q6_K;
  } else if (name == "token_embd.weight") {
    // The file type, for the types here.
  } else if (contains(name, "attn_v.weight")) {
    if (k_mix && use_more_bits(layer, model.n_layer)) type = DType::Q6_K;
  } else if (contains(name, "ffn_down")) {
    if (k_mix && use_more_bits(layer, model.n_layer)) type = DType::Q6_K;
  }
  // Rows that do not hold whole blocks of the chosen type.
  Choice c{type, {}, false};
  if (cols % traits(type).block_elems != 0) {
    const DType first = type;
    switch (type) {
      case DType::Q4_K: type = DType::Q5_0; break;
      case DType::Q5_K: type = DType::Q5_1; break;
      case DType::Q6_K: type = DType::Q8_0; break;
      default: type = DType::F16; c.llama_cpp_refuses = true; break;
    }
    if (cols % traits(type).block_elems != 0) type = DType::F16;
    c.type = type;
    c.fallback = fmt::format("rows of {} are not a multiple of {}'s block of {}: {}", cols,
                             dtype_name(first), traits(first).block_elems, dtype_name(type));
  }
  return c;
}

namespace {

struct Job {
  std::unique_ptr<gguf::File> file;
  Report report;
};

Job plan_job(const std::string& in, const Options& o) {
  Job job;
  job.report.type = find_file_type(o.type);
  job.file = gguf::File::open(in);
  const gguf::File& f = *job.file;
  const auto arch = f.get_string("general.architecture");
  if (!arch) fail("{}: no general.architecture: not a model file", in);
  ModelInfo model;
  for (const auto& t : f.tensors()) {
    if (contains(t.name, "attn_v.weight")) ++model.n_layer;
    if (t.name == "output.weight") model.has_output = true;
  }
  if (model.n_layer == 0) model.n_layer = static_cast<int>(
      f.get_int(*arch + ".block_count").value_or(0));
  std::vector<std::string> requantized;
  for (const auto& t : f.tensors()) {
    const Choice c = choose(job.report.type, t.name, t.dims, t.type, model);
    TensorReport r{t.name, t.dims, t.type, c.type, c.fallback};
    if (c.llama_cpp_refuses)
      job.report.warnings.push_back(fmt::format(
          "{}: {}; llama-quantize refuses this tensor (\"Unsupported tensor size\"), isomer "
          "keeps it in F16", t.name, c.fallback));
    if (r.from != r.to && is_quantized(r.from)) requantized.push_back(t.name);
    job.report.bytes_in += t.nbytes;
    int64_t rows = 1;
    for (size_t i = 1; i < t.dims.size(); ++i) rows *= t.dims[i];
    job.report.bytes_out += row_bytes(r.to, t.dims[0]) * static_cast<uint64_t>(rows);
    job.report.tensors.push_back(std::move(r));
  }
  if (!requantized.empty()) {
    const auto* first = f.find_tensor(requantized.front());
    if (!o.allow_requantize)
      fail("{}: tensor '{}' is already {} ({} quantised tensor(s) in all): requantizing "
           "loses quality, so it is refused as llama-quantize refuses it; quantize the F32, "
           "F16 or BF16 original, or pass --allow-requantize",
           in, first->name, dtype_name(first->type), requantized.size());
    job.report.warnings.push_back(fmt::format(
        "requantizing {} tensor(s) that are already quantised (the first: '{}', {}): they "
        "are dequantised and quantised again, which loses quality",
        requantized.size(), first->name, dtype_name(first->type)));
  }
  return job;
}

// Converts one tensor's rows, split across threads.
void convert(const gguf::TensorInfo& t, DType to, std::span<uint8_t> out, int threads) {
  const int64_t cols = t.dims[0];
  const size_t in_stride = row_bytes(t.type, cols), out_stride = row_bytes(to, cols);
  const int64_t rows = static_cast<int64_t>(t.nbytes / in_stride);
  if (t.type == to) {
    std::copy(t.data, t.data + t.nbytes, out.data());
    return;
  }
  auto work = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      dequantize_row(t.type, t.data + static_cast<size_t>(r) * in_stride, row.data(), cols);
      quantize_row(to, row.data(), out.data() + static_cast<size_t>(r) * out_stride, cols);
    }
  };
  const int64_t n = std::clamp<int64_t>(rows / 16, 1, threads);
  std::vector<std::jthread> pool;
  for (int64_t i = 1; i < n; ++i) pool.emplace_back(work, rows * i / n, rows * (i + 1) / n);
  work(0, rows / n);
}

}  // namespace

Report plan_file(const std::string& in, const Options& options) {
  return std::move(plan_job(in, options).report);
}

Report quantize_file(const std::string& in, const std::string& out, const Options& options,
                     const std::function<void(const TensorReport&)>& log) {
  Job job = plan_job(in, options);
  const gguf::File& f = *job.file;
  gguf::Writer writer;
  for (const auto& [key, value] : f.metadata())
    if (!key.starts_with("split.")) writer.set(key, value);
  writer.set("general.quantization_version", gguf::Value::u32(2));
  writer.set("general.file_type", gguf::Value::u32(job.report.type.ftype));
  for (const auto& r : job.report.tensors) writer.declare_tensor(r.name, r.to, r.dims);
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  writer.write(out, [&](size_t index, std::span<uint8_t> data) {
    const TensorReport& r = job.report.tensors[index];
    convert(f.tensors()[index], r.to, data, threads);
    if (log) log(r);
  });
  return std::move(job.report);
}

}  // namespace isomer::quantize
