// The `isomer` CLI's subcommands. Each file registers one subcommand on the app and runs it
// from the parsed options; errors are isomer::Error exceptions that main() reports.
#pragma once

#include <CLI/CLI.hpp>

namespace isomer::cli {

void add_run(CLI::App& app);
void add_logits(CLI::App& app);
void add_inspect(CLI::App& app);
void add_devices(CLI::App& app);
void add_synth(CLI::App& app);
void add_quantize(CLI::App& app);
void add_bench(CLI::App& app);
void add_compare(CLI::App& app);

}  // namespace isomer::cli
