#include "compare/energy.h"

#include <fmt/format.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

namespace isomer::compare {
namespace {

namespace fs = std::filesystem;

fs::path dir_from_env(const char* var, const char* fallback) {
  const char* dir = std::getenv(var);
  return dir && *dir ? fs::path(dir) : fs::path(fallback);
}

bool read_number(const fs::path& file, uint64_t& v) {
  std::ifstream in(file);
  return static_cast<bool>(in >> v);
}

// Monotonic microjoule counters that wrap at a known range, summed.
class CounterMeter : public EnergyMeter {
 public:
  struct Counter {
    fs::path file;
    uint64_t range;  // the value it wraps at; 0: does not wrap
    uint64_t last = 0;
  };
  CounterMeter(std::vector<Counter> counters, std::string what) : counters_(std::move(counters)), what_(std::move(what)) {
    for (Counter& c : counters_) read_number(c.file, c.last);
  }
  double joules() override {
    for (Counter& c : counters_) {
      uint64_t v = c.last;
      read_number(c.file, v);
      // Wrapped once where the counter has a range; a counter without one that went back was reset.
      uj_ += v >= c.last ? double(v - c.last) : c.range > c.last ? double(c.range - c.last + v) : double(v);
      c.last = v;
    }
    return uj_ / 1e6;
  }
  std::string what() const override { return what_; }

 private:
  std::vector<Counter> counters_;
  std::string what_;
  double uj_ = 0;
};

std::unique_ptr<EnergyMeter> rapl(std::string& why) {
  const fs::path root = dir_from_env("ISOMER_POWERCAP_DIR", "/sys/class/powercap");
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    why = fmt::format("n/a: no RAPL powercap zones here ({} is absent)", root.string());
    return nullptr;
  }
  std::vector<CounterMeter::Counter> zones;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    // Top-level package zones only ("intel-rapl:0"; sub-zones "intel-rapl:0:0" are inside it).
    if (name.find(':') == std::string::npos || name.find(':') != name.rfind(':')) continue;
    uint64_t v = 0, range = 0;
    if (!read_number(entry.path() / "energy_uj", v)) {
      why = fmt::format("n/a: {} is not readable (root only on most systems)", (entry.path() / "energy_uj").string());
      continue;
    }
    read_number(entry.path() / "max_energy_range_uj", range);
    zones.push_back({entry.path() / "energy_uj", range});
  }
  if (zones.empty()) {
    if (why.empty()) why = fmt::format("n/a: {} has no package zones", root.string());
    return nullptr;
  }
  why.clear();
  const size_t n = zones.size();
  return std::make_unique<CounterMeter>(std::move(zones), fmt::format("package energy (RAPL, {} zone{}); other "
                                                                      "processes count too", n, n == 1 ? "" : "s"));
}

// amdgpu's hwmon: energy1_input (microjoules) where the GPU's firmware reports one. The n-th
// amdgpu hwmon is taken as HIP device n (the order the kernel enumerates them).
std::unique_ptr<EnergyMeter> amdgpu(int index, std::string& why) {
  const fs::path root = dir_from_env("ISOMER_HWMON_DIR", "/sys/class/hwmon");
  std::vector<fs::path> gpus;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::ifstream in(entry.path() / "name");
    std::string name;
    if (in >> name && name == "amdgpu") gpus.push_back(entry.path());
  }
  std::sort(gpus.begin(), gpus.end());
  if (index < 0 || static_cast<size_t>(index) >= gpus.size()) {
    why = fmt::format("n/a: no amdgpu hwmon for this device in {} ({} found)", root.string(), gpus.size());
    return nullptr;
  }
  const fs::path file = gpus[static_cast<size_t>(index)] / "energy1_input";
  uint64_t v = 0;
  if (!read_number(file, v)) {
    why = fmt::format("n/a: amdgpu reports no energy counter here ({} is absent or unreadable)", file.string());
    return nullptr;
  }
  return std::make_unique<CounterMeter>(std::vector<CounterMeter::Counter>{{file, 0}},
                                        fmt::format("GPU energy (amdgpu hwmon, {})", file.parent_path().filename().string()));
}

// NVML, opened at run time (no link-time dependency on the NVIDIA driver).
class NvmlMeter : public EnergyMeter {
 public:
  using Device = void*;
  using Init = int (*)();
  using Count = int (*)(unsigned*);
  using Handle = int (*)(unsigned, Device*);
  using Name = int (*)(Device, char*, unsigned);
  using Energy = int (*)(Device, unsigned long long*);

  static std::unique_ptr<EnergyMeter> open(const DeviceProperties& props, bool by_name, int index, std::string& why) {
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      why = "n/a: NVML (libnvidia-ml.so.1, from the NVIDIA driver) is not installed";
      return nullptr;
    }
    const auto init = reinterpret_cast<Init>(dlsym(lib, "nvmlInit_v2"));
    const auto count = reinterpret_cast<Count>(dlsym(lib, "nvmlDeviceGetCount_v2"));
    const auto handle = reinterpret_cast<Handle>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
    const auto name = reinterpret_cast<Name>(dlsym(lib, "nvmlDeviceGetName"));
    const auto energy = reinterpret_cast<Energy>(dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption"));
    unsigned n = 0;
    if (!init || !count || !handle || !name || !energy || init() != 0 || count(&n) != 0) {
      why = "n/a: NVML did not initialise";
      dlclose(lib);
      return nullptr;
    }
    // A Vulkan device is found by its name, where exactly one NVIDIA GPU has it.
    Device device = nullptr;
    for (unsigned i = 0; i < n; ++i) {
      Device d = nullptr;
      char buf[96] = {};
      if (handle(i, &d) != 0) continue;
      const bool match = by_name ? name(d, buf, sizeof buf) == 0 && props.name == buf : static_cast<int>(i) == index;
      if (!match) continue;
      if (device) {
        why = fmt::format("n/a: several NVIDIA GPUs are called {}; NVML cannot tell which one runs {}", props.name, props.id);
        dlclose(lib);
        return nullptr;
      }
      device = d;
    }
    unsigned long long mj = 0;
    if (!device || energy(device, &mj) != 0) {
      why = device ? fmt::format("n/a: NVML has no energy counter for {} (Volta or newer has one)", props.name)
                   : fmt::format("n/a: NVML does not list {}", props.id);
      dlclose(lib);
      return nullptr;
    }
    return std::unique_ptr<EnergyMeter>(new NvmlMeter(lib, device, energy, mj));
  }
  ~NvmlMeter() override { dlclose(lib_); }
  double joules() override {
    unsigned long long mj = start_;
    energy_(device_, &mj);
    return static_cast<double>(mj - start_) / 1e3;
  }
  std::string what() const override { return "GPU energy (NVML)"; }

 private:
  NvmlMeter(void* lib, Device device, Energy energy, unsigned long long start)
      : lib_(lib), device_(device), energy_(energy), start_(start) {}
  void* lib_;
  Device device_;
  Energy energy_;
  unsigned long long start_;
};

int index_of(const DeviceProperties& d) {
  const auto colon = d.id.find(':');
  return colon == std::string::npos ? 0 : std::atoi(d.id.c_str() + colon + 1);
}

}  // namespace

bool runs_on_host(std::string_view backend, const DeviceProperties& device) {
  return backend == "cpu" || std::any_of(device.extra.begin(), device.extra.end(), [](const auto& kv) {
           return kv.first == "type" && kv.second == "CPU";
         });
}

std::unique_ptr<EnergyMeter> energy_meter(std::string_view backend, const DeviceProperties& device, std::string& why) {
  why.clear();
  const auto vendor_is = [&](std::string_view v) { return device.vendor.find(v) != std::string::npos; };
  if (runs_on_host(backend, device)) return rapl(why);
  if (backend == "cuda") return NvmlMeter::open(device, false, index_of(device), why);
  if (backend == "hip") return amdgpu(index_of(device), why);
  if (vendor_is("NVIDIA")) return NvmlMeter::open(device, true, 0, why);
  if (vendor_is("AMD")) {
    why = "n/a: which amdgpu hwmon is this Vulkan device's is not known";
    return nullptr;
  }
  why = fmt::format("n/a: no energy counter known for {} devices", device.vendor.empty() ? device.name : device.vendor);
  return nullptr;
}

}  // namespace isomer::compare
