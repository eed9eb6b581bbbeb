// Whether a device is the host's CPU, and the energy counters of the devices compare runs on:
// package energy (RAPL, through powercap) for the CPU and CPU-type Vulkan devices, NVML's total
// energy for NVIDIA GPUs (CUDA or Vulkan), and amdgpu's hwmon energy counter for AMD GPUs (HIP).
#pragma once

#include <isomer/backend.h>

#include <memory>
#include <string>
#include <string_view>

namespace isomer::compare {

// Whether `device` is the host's CPU: the CPU backend's, or a CPU-type device of another
// backend (lavapipe under Vulkan). Its memory and energy are the host's.
bool runs_on_host(std::string_view backend, const DeviceProperties& device);

class EnergyMeter {
 public:
  virtual ~EnergyMeter() = default;
  // Joules since the meter was made; counter wrap-arounds between two calls are accounted for.
  virtual double joules() = 0;
  virtual std::string what() const = 0;  // the counter, e.g. "package energy (RAPL, 1 zone)"
};

// The meter of `device`, run through `backend`; nullptr, with `why` set to "n/a: <reason>",
// where there is none. $ISOMER_POWERCAP_DIR and $ISOMER_HWMON_DIR stand in for
// /sys/class/powercap and /sys/class/hwmon (tests).
std::unique_ptr<EnergyMeter> energy_meter(std::string_view backend, const DeviceProperties& device,
                                          std::string& why);

}  // namespace isomer::compare
