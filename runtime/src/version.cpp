#include <isomer/version.h>

namespace isomer {
const char* version() { return "0.1.0"; }
}  // namespace isomer
