#include "model_options.h"

#include <isomer/error.h>

#include <fmt/format.h>

#include <map>
#include <isomer/synth.h>

#include <fmt/format.h>

namespace isomer::cli {

void ModelOptions::add_to(CLI::App& cmd, bool model_optional) {
  auto* m = cmd.add_option("-m,--model", path,
                           model_optional ? "GGUF model file (default: the built-in tiny model)"
                                          : "GGUF model file");
  if (!model_optional) m->required();
  cmd.add_option("--backend,--device", device,
                 "Backend, optionally with a device index: cpu, vulkan, vulkan:1 ...")
      ->capture_default_str();
  cmd.add_option("-t,--threads", threads, "CPU threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--ctx", n_ctx, "Context size in tokens (0: the model's, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--no-mmap", no_mmap, "Read the model into memory instead of mapping it");
  cmd.add_flag("--strict", strict, "Fail instead of running ops the device lacks on the CPU");
  cmd.add_option("--kv-type", kv_type, "KV cache element type: F16, BF16 or F32")
      ->capture_default_str();
  cmd.add_option("--kernels", kernels,
                 "isomer's own portable kernels, or the vendor library for matrix products "
                 "(CPU: oneDNN, CUDA: cuBLAS, HIP: hipBLAS)")
      ->check(CLI::IsMember({"portable", "vendor"}))
      ->capture_default_str();
}

ContextOptions ModelOptions::context() const {
  std::string upper = kv_type;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto type = dtype_from_name(upper);
  if (!type) fail("--kv-type {}: not a tensor type (use F16, BF16 or F32)", kv_type);
  return {.n_ctx = n_ctx, .kv_type = *type, .strict = strict};
}

void ModelOptions::report_fallbacks(const Context& ctx) {
  if (ctx.fallbacks().empty()) return;
  // One line per distinct op and reason: every layer repeats the same few.
  std::map<std::string, int> counts;
  for (const std::string& f : ctx.fallbacks()) {
    const auto at = f.find(" at ");
    const auto colon = f.find(": ", at);
    counts[f.substr(0, at) + (colon == std::string::npos ? "" : f.substr(colon))]++;
  }
  fmt::print(stderr, "fallback: {} node(s) ran on {} instead of {} (--strict makes this an error):\n",
             ctx.fallbacks().size(), ctx.model().fallback_device().properties().id,
             ctx.model().device().properties().id);
  for (const auto& [what, n] : counts) fmt::print(stderr, "  {} x{}\n", what, n);
}

std::unique_ptr<Model> ModelOptions::load() {
  if (path.empty()) {
    path = synth::default_model_path();
    fmt::print(stderr,
               "no -m given: using the built-in default model tiny (synthetic, seeded random "
               "weights: its text is gibberish) at {}\n",
               path);
  }
  LoadOptions options = load_options_for(device, threads);
  options.use_mmap = !no_mmap;
  options.kernels = kernels == "vendor" ? KernelChoice::Vendor : KernelChoice::Portable;
  return Model::load(path, options);
}

}  // namespace isomer::cli
