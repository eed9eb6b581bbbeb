// Linked with the static libisomer.a: lists each backend and why it is unavailable, for
// backend_module_test (a static core must not load modules, which bring the shared one).
#include <isomer/backend.h>

#include <fmt/format.h>

int main() {
  for (isomer::Backend* b : isomer::backends())
    fmt::print("{}: {}\n", b->name(), b->devices().empty() ? b->unavailable_reason() : "available");
}
