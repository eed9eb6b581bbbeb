#include "test_backends.h"

#include <isomer/backend.h>

namespace isomer::test {

std::vector<std::string> available_backends() {
  std::vector<std::string> names;
  for (Backend* b : backends())
    if (!b->devices().empty()) names.emplace_back(b->name());
  return names;
}

std::vector<std::string> unavailable_backends() {
  std::vector<std::string> names;
  for (Backend* b : backends())
    if (b->devices().empty()) names.emplace_back(b->name());
  return names;
}

namespace {

// The first device's "kernels" property: "portable, vendor (LIBRARY)" or "portable (vendor:
// WHY NOT)"; empty for a backend without a vendor path (Vulkan).
std::string kernels_property(const std::string& backend) {
  const auto devices = isomer::backend(backend).devices();
  for (const auto& [k, v] : devices.front().extra)
    if (k == "kernels") return v;
  return "";
}

}  // namespace

std::vector<std::string> vendor_backends() {
  std::vector<std::string> names;
  for (const std::string& b : available_backends())
    if (kernels_property(b).starts_with("portable, vendor")) names.push_back(b + std::string(kVendorSuffix));
  return names;
}

std::vector<std::string> no_vendor_backends() {
  std::vector<std::string> names;
  for (const std::string& b : available_backends())
    if (kernels_property(b).starts_with("portable (vendor")) names.push_back(b);
  return names;
}

std::string no_vendor_reason(const std::string& backend) { return kernels_property(backend); }

std::pair<std::string, KernelChoice> backend_and_kernels(std::string param) {
  if (!param.ends_with(kVendorSuffix)) return {param, KernelChoice::Portable};
  param.resize(param.size() - kVendorSuffix.size());
  return {param, KernelChoice::Vendor};
}

}  // namespace isomer::test
