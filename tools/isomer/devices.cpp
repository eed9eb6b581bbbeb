// `isomer devices`: every backend compiled in, its devices, and why a backend is unavailable.
#include <isomer/backend.h>

#include <fmt/format.h>

#include "commands.h"

namespace isomer::cli {

void add_devices(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List every backend and its devices (and, for an "
                                            "unavailable backend, why)");
  cmd->callback([] {
    for (Backend* b : backends()) {
      const auto devices = b->devices();
      if (devices.empty()) {
        fmt::print("{}: unavailable: {}\n", b->name(), b->unavailable_reason());
        continue;
      }
      for (const DeviceProperties& d : devices) {
        fmt::print("{}  {} ({}; driver {}; {:.1f} GiB; {} compute units)\n", d.id, d.name,
                   d.vendor, d.driver, static_cast<double>(d.memory_bytes) / (1 << 30),
                   d.compute_units);
        for (const auto& [key, value] : d.extra) fmt::print("    {}: {}\n", key, value);
      }
    }
  });
}

}  // namespace isomer::cli
