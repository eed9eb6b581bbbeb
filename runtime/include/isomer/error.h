// isomer reports every failure as an isomer::Error exception whose message names the
// problem and its context (file, tensor, op, backend). One style, everywhere.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace isomer {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace isomer
