// The backends the cross-backend suites (ops, fidelity) run on. Every registered backend
// gets cases: available ones the real ones, unavailable ones a single `<name>` case of the
// Unavailable suite that skips with the backend's reason, so a missing GPU is visible by name.
#pragma once

#include <gtest/gtest.h>
#include <isomer/backend.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace isomer::test {

std::vector<std::string> available_backends();
std::vector<std::string> unavailable_backends();

// Vendor kernels (--kernels vendor: oneDNN on the CPU, cuBLAS / hipBLAS on the GPU backends),
// as a device's "kernels" property states them. vendor_backends(): "<name>_vendor" for each
// available backend whose first device has them, the suites' parameter for running it so;
// no_vendor_backends(): the available backends that have a vendor path this build or machine
// lacks (the CPU without oneDNN), each skipped by name with the reason.
constexpr std::string_view kVendorSuffix = "_vendor";
std::vector<std::string> vendor_backends();
std::vector<std::string> no_vendor_backends();
std::string no_vendor_reason(const std::string& backend);
// A suite parameter ("cpu", "cpu_vendor") as the backend name and its kernel choice.
std::pair<std::string, KernelChoice> backend_and_kernels(std::string param);

// Instantiates, in the including suite, one skipped test per unavailable backend.
#define ISOMER_INSTANTIATE_UNAVAILABLE_BACKENDS()                                                 \
  class Unavailable : public testing::TestWithParam<std::string> {};                              \
  TEST_P(Unavailable, Skipped) {                                                                  \
    GTEST_SKIP() << GetParam() << " unavailable: " << isomer::backend(GetParam()).unavailable_reason(); \
  }                                                                                               \
  GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Unavailable);                                     \
  INSTANTIATE_TEST_SUITE_P(Backends, Unavailable,                                                 \
                           testing::ValuesIn(isomer::test::unavailable_backends()),               \
                           [](const testing::TestParamInfo<std::string>& i) { return i.param; })

// Instantiates, in the including suite, one skipped test per backend in no_vendor_backends().
#define ISOMER_INSTANTIATE_NO_VENDOR_KERNELS()                                                    \
  class NoVendorKernels : public testing::TestWithParam<std::string> {};                          \
  TEST_P(NoVendorKernels, Skipped) {                                                              \
    GTEST_SKIP() << GetParam() << " --kernels vendor unavailable: " << isomer::test::no_vendor_reason(GetParam()); \
  }                                                                                               \
  GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(NoVendorKernels);                                 \
  INSTANTIATE_TEST_SUITE_P(Backends, NoVendorKernels,                                             \
                           testing::ValuesIn(isomer::test::no_vendor_backends()),                 \
                           [](const testing::TestParamInfo<std::string>& i) { return i.param; })

}  // namespace isomer::test
