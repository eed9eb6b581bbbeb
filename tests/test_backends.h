// The backends the cross-backend suites (ops, fidelity) run on. Every registered backend
// gets cases: available ones the real ones, unavailable ones a single `<name>` case of the
// Unavailable suite that skips with the backend's reason, so a missing GPU is visible by name.
#pragma once

#include <gtest/gtest.h>
#include <isomer/backend.h>

#include <string>
#include <vector>

namespace isomer::test {

std::vector<std::string> available_backends();
std::vector<std::string> unavailable_backends();

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

}  // namespace isomer::test
