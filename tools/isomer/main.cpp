// isomer: run the same GGUF model on CPU, CUDA, HIP and Vulkan backends and compare.
#include <isomer/error.h>
#include <isomer/version.h>

#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"isomer: one GGUF model, every backend, measured side by side"};
  app.set_version_flag("--version", isomer::version());
  app.require_subcommand(1);
  isomer::cli::add_run(app);
  isomer::cli::add_logits(app);
  isomer::cli::add_inspect(app);
  isomer::cli::add_devices(app);
  isomer::cli::add_synth(app);
  isomer::cli::add_quantize(app);
  isomer::cli::add_bench(app);
  isomer::cli::add_compare(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const isomer::Error& e) {
    std::fprintf(stderr, "isomer: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "isomer: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
