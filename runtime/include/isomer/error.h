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

// Kinds of failure a caller may handle differently (the C API maps them to status codes).
// An operation stopped because the caller's callback asked it to.
class Cancelled : public Error {
 public:
  using Error::Error;
};
// A sequence would outgrow its context.
class ContextFull : public Error {
 public:
  using Error::Error;
};
// A token id outside the vocabulary.
class InvalidToken : public Error {
 public:
  using Error::Error;
};
// A device could not do what was asked (out of its memory, lost, failed to build a kernel).
class DeviceError : public Error {
 public:
  using Error::Error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// fail, throwing the more specific kind E.
template <class E, class... Args>
[[noreturn]] void fail_with(fmt::format_string<Args...> format, Args&&... args) {
  throw E(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace isomer
