// `isomer compare`'s engine: one model on several backends, side by side against a reference
// backend (the CPU by default). Per backend/device: does it run (op × device histogram of what
// ran, every fallback with its reason, graph splits, bytes copied between devices), does it
// give the same answer (teacher-forced per-position KL, top-1 agreement, largest logit error,
// first divergence in greedy decoding, hidden-state NMSE after each block and, where a block
// diverges, the first op that does), how fast is it (isomer::bench), and what it ran on.
//
// The report's canonical form is JSON (docs/compare.schema.json); the renderings (terminal
// table, CSV, Markdown, SVG), merging and the --strict check all read that JSON, so reports
// recorded on other machines are handled exactly like fresh ones.
#pragma once

#include <isomer/backend.h>
#include <isomer/gguf.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isomer::compare {

// Over these, an agreement metric fails --strict. Unset: the model's calibrated value
// (calibrated_thresholds).
struct Thresholds {
  std::optional<double> kl;           // largest per-position KL(reference || backend)
  std::optional<double> top1;         // least top-1 agreement (where the reference's choice is clear)
  std::optional<double> logit_error;  // largest |logit - reference logit| over the reference's top 32
  std::optional<double> layer_nmse;   // a block's hidden-state NMSE over this marks the divergence
};

// How far two correct backends are apart on a model, by the precision of its least precise
// matrices (F32; F16 or BF16; quantized): KL, top-1 and logit error are the bars of
// docs/FIDELITY.md, the distance of llama.cpp's own Vulkan backend from its CPU backend on the
// shared fixtures; the block NMSE is 5x the largest isomer's CPU and Vulkan backends show on
// those and on 24-layer models (docs/FIDELITY.md, "Agreement thresholds").
struct Calibration {
  double kl, top1, logit_error, layer_nmse;
  std::string basis;  // the precision class, and the model's matrix types in it
};
Calibration calibrated_thresholds(const gguf::File& model);

struct Options {
  std::string model;  // GGUF path
  // Backends, optionally with a device index ("vulkan:1"); "all" (alone): every registered
  // backend's every device. The reference is added first when missing.
  std::vector<std::string> backends{"all"};
  std::string reference = "cpu";
  std::string eval_text;  // empty: the built-in evaluation text
  // The speed runs' prompt, its tokens repeated or cut to n_prompt; empty: bench's tokens.
  std::string prompt_text;
  int threads = 0;
  // Speed (isomer::bench): reps 0 skips it.
  int n_prompt = 128, n_gen = 64, reps = 5;
  int greedy_tokens = 16;        // greedy decoding steps compared with the reference's
  bool per_layer = true;         // hidden-state NMSE per block, and the op that diverges
  double bandwidth_gbs = 0;      // roofline bandwidth; 0: measure the host's
  int bandwidth_mib = 512;       // buffer of that measurement
  bool hash_model = true;        // sha256 of the file in the report
  Thresholds thresholds;
};

// The built-in evaluation text.
std::string_view default_eval_text();

// The backends `spec` names, expanded ("all") and checked: isomer::Error naming the unknown
// backend and listing the known ones.
std::vector<std::string> expand_backends(const std::vector<std::string>& spec);

// What a comparison is doing, and the fraction of its work done (0 to 1).
using Progress = std::function<void(std::string_view line, double done)>;

// Runs the comparison and returns the report as JSON text. isomer::Error only for bad options
// or a model the reference cannot run; every other backend's trouble (unavailable, does not
// fit, fails) becomes its row's status and reason. `progress` gets a line now and then.
std::string run(const Options& options, const Progress& progress = {});

// Reports (JSON text) from several runs or machines as one report: every row keeps its host.
std::string merge(const std::vector<std::string>& reports);

// What --strict refuses in a report: any fallback, any unavailable or failed row, any
// agreement metric over its threshold. Empty: none.
std::vector<std::string> strict_violations(const std::string& report);

enum class Format { Table, Csv, Markdown, Svg };
std::string render(const std::string& report, Format format);

// Checks `json` against the subset of JSON Schema that docs/compare.schema.json uses (type,
// required, properties, additionalProperties, items, enum, minimum, maximum, anyOf, $ref into
// $defs):
// the problems found, each with its JSON pointer; empty when valid.
std::vector<std::string> validate(const std::string& json, const std::string& schema);

// SHA-256 of a file, lowercase hex.
std::string sha256_file(const std::string& path);

}  // namespace isomer::compare
