// Discovery of backend modules at run time (see isomer/backend_module.h).
#pragma once

#include <isomer/backend.h>

#include <vector>

namespace isomer {

// Loads every module found in backend_module_dirs() and appends its backend to `registry`; a
// module isomer knows (cuda, hip) that is missing or fails to load is appended as an
// unavailable backend whose reason is the loader's error (the dlerror text, a version mismatch).
void load_backend_modules(std::vector<Backend*>& registry);

}  // namespace isomer
