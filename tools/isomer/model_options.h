// Options every model-running subcommand shares: the file, the backend and device, threads
// and context size.
#pragma once

#include <isomer/model.h>

#include <memory>
#include <string>

#include "commands.h"

namespace isomer::cli {

struct ModelOptions {
  std::string path;
  std::string device = "cpu";  // "cpu", "vulkan", "vulkan:1"
  int threads = 0;
  int64_t n_ctx = 0;
  std::string kv_type = "F16";
  bool strict = false;
  std::string kernels = "portable";  // portable | vendor (CPU, CUDA, HIP)
  bool no_mmap = false;

  // Adds -m/--model (required unless `model_optional`), --backend/--device, -t, --ctx, --kv-type,
  // --no-mmap, --strict, --kernels.
  void add_to(CLI::App& cmd, bool model_optional = false);
  // Without -m, loads the built-in default model (synthesised on first use) and sets `path`
  // to it, saying so on stderr.
  std::unique_ptr<Model> load();
  ContextOptions context() const;
  // Tells stderr which ops ran on the CPU instead of the chosen device, and why.
  static void report_fallbacks(const Context& ctx);
};

}  // namespace isomer::cli
