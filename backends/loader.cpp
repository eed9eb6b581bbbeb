// Backend modules (isomer/backend_module.h): where they are searched, how one is opened and
// checked, and the stand-in backend that reports why a module is unavailable.
#include "loader.h"

#include <isomer/backend_module.h>
#include <isomer/error.h>
#include <isomer/version.h>

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <system_error>

namespace isomer {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "libisomer-backend-", kSuffix = ".so";

// The backends built as modules by isomer itself: listed even when their module is absent.
constexpr std::string_view kKnownModules[] = {"cuda", "hip"};

// A backend whose module could not be used: no devices, and the reason.
class UnavailableBackend final : public Backend {
 public:
  UnavailableBackend(std::string name, std::string reason)
      : name_(std::move(name)), reason_(std::move(reason)) {}
  std::string_view name() const override { return name_; }
  std::vector<DeviceProperties> devices() override { return {}; }
  std::string unavailable_reason() override { return reason_; }
  std::unique_ptr<Device> open(int, const DeviceOptions&) override {
    fail("backend {} is unavailable: {}", name_, reason_);
  }

 private:
  std::string name_, reason_;
};

// The file that holds this code: libisomer.so when the core is a shared library, the
// executable when it is linked statically.
std::string core_file() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&backend_module_dirs), &info) == 0 || !info.dli_fname) return "";
  return info.dli_fname;
}

bool core_is_shared() {
  return fs::path(core_file()).filename().string().rfind("libisomer.so", 0) == 0;
}

std::string module_file_name(std::string_view name) {
  return std::string(kPrefix) + std::string(name) + std::string(kSuffix);
}

}  // namespace

std::vector<std::string> backend_module_dirs() {
  std::vector<std::string> dirs;
  const auto add = [&](const fs::path& p) {
    if (p.empty()) return;
    std::error_code ec;
    fs::path c = fs::weakly_canonical(p, ec);
    const std::string s = (ec ? p : c).string();
    if (std::find(dirs.begin(), dirs.end(), s) == dirs.end()) dirs.push_back(s);
  };
  if (const char* env = std::getenv("ISOMER_BACKEND_PATH"); env && *env) {
    std::string_view rest = env;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      add(fs::path(std::string(rest.substr(0, colon))));
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    }
    return dirs;
  }
  if (core_is_shared()) add(fs::path(core_file()).parent_path() / "isomer-backends");
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) add(exe.parent_path() / ".." / "lib" / "isomer-backends");
  return dirs;
}

Backend& load_backend_module(const std::string& file) {
  // RTLD_LOCAL: a module's own symbols (its copy of the CUDA runtime) stay private to it.
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) fail("{}", dlerror());
  const auto entry = reinterpret_cast<IsomerBackendModuleEntry>(dlsym(handle, ISOMER_BACKEND_MODULE_ENTRY));
  if (!entry) {
    dlclose(handle);
    fail("{} is not an isomer backend module: it has no {} entry point", file,
         ISOMER_BACKEND_MODULE_ENTRY);
  }
  const IsomerBackendModule* m = entry();
  if (!m || m->api_version != ISOMER_BACKEND_API_VERSION) {
    const uint32_t v = m ? m->api_version : 0;
    const std::string built = m && m->isomer_version ? m->isomer_version : "?";
    dlclose(handle);
    fail("{} was built for backend API version {} (isomer {}); this isomer ({}) has API "
         "version {}: rebuild the module with this isomer",
         file, v, built, version(), ISOMER_BACKEND_API_VERSION);
  }
  Backend* b = m->backend ? m->backend() : nullptr;
  if (!b) fail("{}: the module returned no backend", file);
  // The module stays loaded for the life of the process (its backend is in the registry).
  return *b;
}

void load_backend_modules(std::vector<Backend*>& registry) {
  static std::vector<std::unique_ptr<Backend>> stand_ins;
  const auto taken = [&](std::string_view name) {
    return std::any_of(registry.begin(), registry.end(), [&](Backend* b) { return b->name() == name; });
  };
  const auto unavailable = [&](std::string name, std::string reason) {
    if (taken(name)) return;
    stand_ins.push_back(std::make_unique<UnavailableBackend>(std::move(name), std::move(reason)));
    registry.push_back(stand_ins.back().get());
  };
  if (!core_is_shared()) {
    for (std::string_view name : kKnownModules)
      unavailable(std::string(name),
                  "backend modules need the shared libisomer, and this program links libisomer.a "
                  "statically (a module would bring a second copy of isomer's core)");
    return;
  }
  const std::vector<std::string> dirs = backend_module_dirs();
  // Module name -> file, the first folder that has it winning; the known ones always listed.
  std::map<std::string, std::string> found;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string f = entry.path().filename().string();
      if (f.size() <= kPrefix.size() + kSuffix.size() || f.rfind(kPrefix, 0) != 0 ||
          f.compare(f.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
        continue;
      const std::string name = f.substr(kPrefix.size(), f.size() - kPrefix.size() - kSuffix.size());
      found.emplace(name, entry.path().string());
    }
  }
  std::vector<std::string> order(std::begin(kKnownModules), std::end(kKnownModules));
  for (const auto& [name, file] : found)
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  for (const std::string& name : order) {
    const auto it = found.find(name);
    // A known module that is nowhere: dlopen of where it would be gives the reason.
    const std::string file = it != found.end() ? it->second
                             : dirs.empty()    ? module_file_name(name)
                                               : (fs::path(dirs.front()) / module_file_name(name)).string();
    try {
      Backend& b = load_backend_module(file);
      if (taken(b.name())) continue;
      registry.push_back(&b);
    } catch (const Error& e) {
      unavailable(name, e.what());
    }
  }
}

}  // namespace isomer
