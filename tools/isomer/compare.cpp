// `isomer compare`: one model on several backends side by side: does it run, does it give the
// same answer as the reference backend, how fast. The engine is isomer::compare
// (runtime/include/isomer/compare.h); this file parses options, writes the outputs and sets
// the exit status.
#include <isomer/compare.h>
#include <isomer/error.h>
#include <isomer/synth.h>

#include <fmt/format.h>

#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "commands.h"

namespace isomer::cli {
namespace {

struct CompareOptions {
  compare::Options engine;
  std::string eval_file, prompt_file, json_file, csv_file, markdown_file, svg_file;
  bool json_stdout = false, csv_stdout = false, strict = false, quiet = false;
  std::vector<std::string> merge;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read {}", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out || !(out << text)) fail("cannot write {}", path);
}

}  // namespace

void add_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "compare", "Run one model on several backends and compare: runs? same answer? how fast?");
  auto o = std::make_shared<CompareOptions>();
  cmd->add_option("-m,--model", o->engine.model, "GGUF model file (default: the built-in tiny model)");
  cmd->add_option("--backends,--backend", o->engine.backends,
                  "Backends to compare, comma-separated, optionally with a device index "
                  "(cpu,vulkan:1), or all")
      ->delimiter(',')->capture_default_str();
  cmd->add_option("--reference", o->engine.reference, "Backend the others are compared with")
      ->capture_default_str();
  cmd->add_option("--eval-file", o->eval_file, "Text evaluated teacher-forced (default: a built-in text)");
  cmd->add_option("--prompt-file", o->prompt_file,
                  "Speed: the prompt's text, its tokens repeated or cut to -p (default: synthetic ids)");
  cmd->add_option("-p,--n-prompt", o->engine.n_prompt, "Speed: prompt tokens in one batch")
      ->check(CLI::Range(1, std::numeric_limits<int>::max()))->capture_default_str();
  cmd->add_option("-n,--n-gen", o->engine.n_gen, "Speed: tokens generated one at a time")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("-r,--repetitions", o->engine.reps, "Speed: timed repetitions (0: no speed runs)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--greedy", o->engine.greedy_tokens, "Greedy tokens compared with the reference's")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("-t,--threads", o->engine.threads, "CPU threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--bandwidth-gbs", o->engine.bandwidth_gbs,
                  "Roofline bandwidth in GB/s (default: measure the host's)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--bandwidth-mib", o->engine.bandwidth_mib, "Buffer of the bandwidth measurement")
      ->check(CLI::Range(16, 1 << 16))->capture_default_str();
  cmd->add_flag("--no-layers", [o](int64_t) { o->engine.per_layer = false; },
                "Skip the per-block hidden-state comparison");
  cmd->add_flag("--no-hash", [o](int64_t) { o->engine.hash_model = false; },
                "Leave the model's sha256 out of the report");
  // Thresholds left out are calibrated for the model's weights (compare::calibrated_thresholds).
  cmd->add_option("--max-kl", o->engine.thresholds.kl, "Threshold: largest KL (default: calibrated for the model)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-top1", o->engine.thresholds.top1,
                  "Threshold: least top-1 agreement, 0..1 (default: calibrated for the model)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-logit-error", o->engine.thresholds.logit_error,
                  "Threshold: largest logit error (default: calibrated for the model)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-layer-nmse", o->engine.thresholds.layer_nmse,
                  "Threshold: a block's hidden-state NMSE (default: calibrated for the model)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json{-}", o->json_file, "Write the report as JSON (docs/compare.schema.json) to FILE, "
                                         "or to stdout with --json alone")
      ->expected(0, 1);
  cmd->add_flag("--csv{-}", o->csv_file, "Write the report as CSV to FILE (stdout with --csv alone)")->expected(0, 1);
  cmd->add_option("--markdown", o->markdown_file, "Write the report as Markdown to FILE");
  cmd->add_option("--svg", o->svg_file, "Write a chart (tokens/s, % roofline, agreement) to FILE");
  cmd->add_option("--merge", o->merge, "Merge these JSON reports (from other runs or machines) "
                                       "instead of running")
      ->expected(1, -1);
  cmd->add_flag("--strict", o->strict,
                "Exit 3 on any fallback, unavailable backend or agreement metric over its threshold");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress lines on stderr");
  cmd->callback([o] {
    std::string report;
    if (!o->merge.empty()) {
      std::vector<std::string> texts;
      for (const auto& f : o->merge) texts.push_back(read_file(f));
      report = compare::merge(texts);
    } else {
      if (o->engine.model.empty()) {
        o->engine.model = synth::default_model_path();
        fmt::print(stderr, "no -m given: using the built-in default model tiny (synthetic, seeded random "
                           "weights) at {}\n", o->engine.model);
      }
      if (!o->eval_file.empty()) {
        o->engine.eval_text = read_file(o->eval_file);
        if (o->engine.eval_text.empty()) fail("--eval-file {} is empty", o->eval_file);
      }
      if (!o->prompt_file.empty()) {
        o->engine.prompt_text = read_file(o->prompt_file);
        if (o->engine.prompt_text.empty()) fail("--prompt-file {} is empty", o->prompt_file);
      }
      // A progress bar before each line; on a terminal one line, redrawn.
      const bool tty = isatty(STDERR_FILENO) != 0;
      report = compare::run(o->engine, [o, tty](std::string_view line, double done) {
        if (o->quiet) return;
        constexpr int kWidth = 24;
        const int filled = static_cast<int>(done * kWidth + 0.5);
        const std::string bar = fmt::format("[{}{}] {:3.0f}%", std::string(static_cast<size_t>(filled), '#'),
                                            std::string(static_cast<size_t>(kWidth - filled), '.'), 100 * done);
        if (tty) fmt::print(stderr, "\r\033[K{} {}", bar, line.substr(0, 100));
        else fmt::print(stderr, "{} {}\n", bar, line);
      });
      if (tty && !o->quiet) fmt::print(stderr, "\n");
    }
    const bool json_out = !o->json_file.empty(), csv_out = !o->csv_file.empty();
    if (json_out && o->json_file != "-") write_file(o->json_file, report + "\n");
    if (csv_out && o->csv_file != "-") write_file(o->csv_file, compare::render(report, compare::Format::Csv));
    if (!o->markdown_file.empty())
      write_file(o->markdown_file, compare::render(report, compare::Format::Markdown));
    if (!o->svg_file.empty()) write_file(o->svg_file, compare::render(report, compare::Format::Svg));
    if (o->json_file == "-") fmt::print("{}\n", report);
    else if (o->csv_file == "-") fmt::print("{}", compare::render(report, compare::Format::Csv));
    else fmt::print("{}", compare::render(report, compare::Format::Table));
    const auto violations = compare::strict_violations(report);
    if (o->strict && !violations.empty()) {
      fmt::print(stderr, "--strict: {} problem(s):\n", violations.size());
      for (const auto& v : violations) fmt::print(stderr, "  {}\n", v);
      std::fflush(stdout);
      throw CLI::RuntimeError(3);
    }
  });
}

}  // namespace isomer::cli
