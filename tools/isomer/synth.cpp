// `isomer synth`: write a synthetic model (seeded random weights in a real model's shapes).
#include <isomer/error.h>
#include <isomer/synth.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "commands.h"

namespace isomer::cli {
namespace {

struct SynthOptions {
  synth::Options synth;
  std::string output;
  bool list = false;
};

std::string likes_help() {
  std::string s = "Real model whose shapes, hyper-parameters and tokenizer layout to copy:";
  for (const auto& l : synth::likes()) s += fmt::format("\n  {:<14} {}", l.name, l.description);
  return s;
}

void print_list() {
  fmt::print("likes (default weight type in brackets):\n");
  for (const auto& l : synth::likes())
    fmt::print("  {:<14} {:<6} [{}] {}\n", l.name, l.arch, l.default_type, l.description);
  fmt::print("weight types: {}\n", fmt::join(synth::type_names(), ", "));
}

}  // namespace

void add_synth(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "synth", "Write a synthetic model: seeded random weights in the shapes of a real model");
  auto o = std::make_shared<SynthOptions>();
  auto* like = cmd->add_option("--like", o->synth.like, likes_help())->capture_default_str();
  auto* out = cmd->add_option("-o,--output", o->output, "GGUF file to write");
  cmd->add_option("--type", o->synth.type,
                  fmt::format("Weight type, with llama-quantize's mixes and fallbacks: {} "
                              "(default: q8_0, f32 for tiny)",
                              fmt::join(synth::type_names(), ", ")));
  cmd->add_option("--seed", o->synth.seed, "Seed of the weights")->capture_default_str();
  cmd->add_option("--layers", o->synth.n_layer,
                  "Fewer layers than the like has, for a smaller file (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", o->synth.threads, "Threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  auto* list = cmd->add_flag("--list", o->list, "List the likes and weight types");
  like->excludes(list);
  out->excludes(list);
  cmd->callback([o] {
    if (o->list) return print_list();
    if (o->output.empty()) fail("synth: -o FILE is required (see isomer synth --help)");
    const auto t0 = std::chrono::steady_clock::now();
    const synth::Plan plan = synth::synthesize(o->synth, o->output);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::map<std::string, int> types;
    for (const auto& t : plan.tensors) ++types[std::string(dtype_name(t.type))];
    std::string mix;
    for (const auto& [type, n] : types)
      mix += fmt::format("{}{} {}", mix.empty() ? "" : ", ", n, type);
    fmt::print("{}: {} ({:.1f} M parameters; {} tensors: {}), {:.1f} MiB in {:.1f} s\n",
               o->output, o->synth.like, plan.n_params / 1e6, plan.tensors.size(), mix,
               std::filesystem::file_size(o->output) / 1048576.0, seconds);
  });
}

}  // namespace isomer::cli
