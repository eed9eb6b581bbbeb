#pragma once

namespace isomer {
const char* version();
// The git commit the build was configured at ("unknown" outside a git checkout).
const char* git_commit();
}
