// `isomer inspect FILE`: metadata, every tensor (name, type, shape, bytes) and totals.
#include <isomer/gguf.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "commands.h"

namespace isomer::cli {
namespace {

// Long arrays (vocabularies) are summarised: their length and first elements.
constexpr size_t kArrayPreview = 8;
constexpr size_t kStringPreview = 120;

std::string render(const gguf::Value& v) {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          std::string s = x.size() > kStringPreview ? x.substr(0, kStringPreview) + "..." : x;
          return fmt::format("{:?}", s);
        } else if constexpr (std::is_same_v<T, gguf::Value::Array>) {
          std::vector<std::string> items;
          for (size_t i = 0; i < std::min(x.size(), kArrayPreview); ++i) items.push_back(render(x[i]));
          if (x.size() > kArrayPreview) items.push_back("...");
          return fmt::format("{}[{}] [{}]", gguf::value_type_name(v.array_type), x.size(),
                             fmt::join(items, ", "));
        } else if constexpr (std::is_same_v<T, double>) {
          // Shortest text that reads back as the stored value (f32 keys are f32, not double).
          return v.type == gguf::ValueType::F32 ? fmt::format("{}", static_cast<float>(x))
                                                : fmt::format("{}", x);
        } else {
          return fmt::format("{}", x);
        }
      },
      v.data);
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Print a GGUF file's metadata, tensors and totals");
  auto path = std::make_shared<std::string>();
  cmd->add_option("file", *path, "GGUF file")->required();
  cmd->callback([path] {
    const auto file = gguf::File::open(*path);
    fmt::print("file: {}\nGGUF version {}, alignment {}, {} bytes\n\nmetadata ({} keys):\n",
               file->path(), file->version(), file->alignment(), file->file_size(),
               file->metadata().size());
    for (const auto& [key, value] : file->metadata())
      fmt::print("  {:<48} {:<7} {}\n", key, gguf::value_type_name(value.type), render(value));
    fmt::print("\ntensors ({}):\n", file->tensors().size());
    uint64_t total_bytes = 0, total_elements = 0;
    std::map<std::string_view, std::pair<size_t, uint64_t>> by_type;
    for (const auto& t : file->tensors()) {
      fmt::print("  {:<40} {:<5} {:<18} {:>12} bytes\n", t.name, dtype_name(t.type),
                 t.shape_string(), t.nbytes);
      total_bytes += t.nbytes;
      total_elements += static_cast<uint64_t>(t.elements());
      auto& [count, bytes] = by_type[dtype_name(t.type)];
      ++count;
      bytes += t.nbytes;
    }
    fmt::print("\ntotals: {} tensors, {} parameters, {} bytes of tensor data ({:.2f} MiB)\n",
               file->tensors().size(), total_elements, total_bytes,
               static_cast<double>(total_bytes) / (1 << 20));
    for (const auto& [type, cb] : by_type)
      fmt::print("  {:<5} {:>4} tensors {:>12} bytes\n", type, cb.first, cb.second);
  });
}

}  // namespace isomer::cli
