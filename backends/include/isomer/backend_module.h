// The ABI of a backend module: a shared object (libisomer-backend-<name>.so) that isomer opens
// with dlopen at run time and that adds one Backend. It exports a single C entry point,
// isomer_backend_module(), returning a plain C struct whose first field is the API version it
// was built against; the loader reads that field before touching anything C++ and refuses a
// module of another version, naming both. Only then does it call `backend`, which returns the
// module's Backend (a process-wide object owned by the module; the module stays loaded for the
// life of the process).
//
// Why the C++ Backend object may cross the boundary: a module is linked against the shared
// libisomer (libisomer.so.0), and executables that load modules link that same shared library,
// so the core (the registry, isomer::Error, the op catalogue, typeinfo) exists once in the
// process. A program linked with the static libisomer.a does not load modules (a module would
// bring a second copy of the core with its own singletons); the GPU backends are then listed as
// unavailable with that reason. ISOMER_BACKEND_API_VERSION changes whenever backend.h or the
// op catalogue (op.h, dtype.h) changes in a way a compiled module would notice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#define ISOMER_BACKEND_API_VERSION 2u

namespace isomer {
class Backend;
}

extern "C" {

struct IsomerBackendModule {
  uint32_t api_version;             // ISOMER_BACKEND_API_VERSION of the module's build
  const char* name;                 // "cuda", "hip": the Backend's name
  const char* isomer_version;       // isomer::version() of the module's build, for messages
  isomer::Backend* (*backend)();    // the module's backend; called once, after the check
};

// The one symbol a module exports.
typedef const IsomerBackendModule* (*IsomerBackendModuleEntry)();
#define ISOMER_BACKEND_MODULE_ENTRY "isomer_backend_module"

}  // extern "C"

namespace isomer {

// The folders searched for modules, in order: the colon-separated $ISOMER_BACKEND_PATH when set
// (it replaces the defaults), else <folder of libisomer.so>/isomer-backends and
// <folder of the executable>/../lib/isomer-backends (the same folder in the build tree and in
// the install layout).
std::vector<std::string> backend_module_dirs();

// Opens one module file, checks its API version and returns its backend; isomer::Error with the
// dlerror text, the missing entry point or the version mismatch otherwise. Does not register it.
Backend& load_backend_module(const std::string& file);

}  // namespace isomer
