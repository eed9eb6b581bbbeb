// `isomer quantize`: convert a GGUF model to another weight type with llama-quantize's mixes.
#include <isomer/error.h>
#include <isomer/quantize.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <map>

#include "commands.h"

namespace isomer::cli {
namespace {

struct QuantizeOptions {
  std::string input, output, type;
  quantize::Options q;
  bool verbose = false;
};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void add_quantize(CLI::App& app) {
  std::vector<std::string> names;
  for (const auto& n : quantize::file_type_names()) names.push_back(upper(n));
  auto* cmd = app.add_subcommand(
      "quantize", "Convert a GGUF model to another weight type, as llama-quantize does");
  auto o = std::make_shared<QuantizeOptions>();
  cmd->add_option("input", o->input, "GGUF model to read (F32, F16 or BF16 weights)")
      ->required();
  cmd->add_option("output", o->output, "GGUF file to write")->required();
  cmd->add_option("type", o->type,
                  fmt::format("Weight type, with llama-quantize's per-tensor mix: {}",
                              fmt::join(names, ", ")))
      ->required();
  cmd->add_option("-t,--threads", o->q.threads, "Threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--allow-requantize", o->q.allow_requantize,
                "Convert tensors that are already quantised (dequantise, then quantise: loses "
                "quality; refused without this flag, as llama-quantize refuses it)");
  cmd->add_flag("-v,--verbose", o->verbose, "One line per tensor");
  cmd->callback([o] {
    if (o->input == o->output) fail("quantize: the output must be another file than the input");
    o->q.type = o->type;
    const auto t0 = std::chrono::steady_clock::now();
    int done = 0;
    const quantize::Report report = quantize::quantize_file(
        o->input, o->output, o->q, [&](const quantize::TensorReport& r) {
          ++done;
          if (!o->verbose) return;
          fmt::print("[{:>4}] {:<32} {:<16} {:>5} -> {:<5}{}\n", done, r.name,
                     fmt::format("[{}]", fmt::join(r.dims, ", ")), dtype_name(r.from),
                     dtype_name(r.to), r.note.empty() ? "" : "  (" + r.note + ")");
        });
    for (const auto& w : report.warnings) fmt::print(stderr, "warning: {}\n", w);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::map<std::string, int> types;
    for (const auto& t : report.tensors) ++types[std::string(dtype_name(t.to))];
    std::string mix;
    for (const auto& [type, n] : types) mix += fmt::format("{}{} {}", mix.empty() ? "" : ", ", n, type);
    fmt::print("{}: {} ({}), {} tensors: {}; {:.1f} MiB -> {:.1f} MiB in {:.1f} s\n", o->output,
               upper(report.type.name), quantize::ftype_description(report.type.ftype),
               report.tensors.size(), mix, report.bytes_in / 1048576.0,
               report.bytes_out / 1048576.0, seconds);
  });
}

}  // namespace isomer::cli
