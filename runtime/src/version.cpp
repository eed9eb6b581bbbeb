#include <isomer/version.h>

#ifndef ISOMER_GIT_COMMIT
#define ISOMER_GIT_COMMIT "unknown"
#endif

namespace isomer {
const char* version() { return "0.1.0"; }
const char* git_commit() { return ISOMER_GIT_COMMIT; }
}  // namespace isomer
