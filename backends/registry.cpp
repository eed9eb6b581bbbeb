#include <isomer/backend.h>
#include <isomer/error.h>

#include <fmt/ranges.h>

#include <vector>

#include "cpu/cpu_backend.h"
#include "loader.h"
#if ISOMER_HAS_VULKAN
#include "vulkan/vulkan_backend.h"
#endif

namespace isomer {

void Device::copy(const Buffer& src, size_t src_offset, Buffer& dst, size_t dst_offset,
                  size_t bytes) {
  if (const auto* p = static_cast<const uint8_t*>(src.host_data())) {
    dst.write(dst_offset, p + src_offset, bytes);
    return;
  }
  std::vector<uint8_t> staging(bytes);
  src.read(src_offset, staging.data(), bytes);
  dst.write(dst_offset, staging.data(), bytes);
}

namespace {
std::vector<Backend*>& registry() {
  // One line per backend.
  // One line per built-in backend; then the backend modules found at run time (loader.cpp).
  static std::vector<Backend*> all = [] {
    std::vector<Backend*> v = {
        &cpu::backend(),
#if ISOMER_HAS_VULKAN
        &vulkan::backend(),
#endif
    };
    load_backend_modules(v);
    return v;
  }();
  return all;
}
}  // namespace

std::span<Backend* const> backends() { return registry(); }

void add_backend(Backend& b) {
  for (Backend* known : registry())
    if (known->name() == b.name()) fail("a backend called '{}' is already registered", b.name());
  registry().push_back(&b);
}

Backend& backend(std::string_view name) {
  std::vector<std::string_view> names;
  for (Backend* b : backends()) {
    if (b->name() == name) return *b;
    names.push_back(b->name());
  }
  fail("unknown backend '{}' (this build has: {})", name, fmt::join(names, ", "));
}

}  // namespace isomer
