// Where the library lives and the process settings made before Python starts.
#ifndef FRVT_RUNTIME_ENV_H
#define FRVT_RUNTIME_ENV_H

#include <string>

namespace frvt_bridge {

// Absolute folder holding this shared library (found with dladdr, not the cwd); "" if unknown.
std::string library_dir();

// Point the embedded interpreter at the runtime bundled in lib/ and turn every
// known thread pool down to one thread. Returns "" or a reason it cannot start.
std::string prepare_environment(const std::string &lib_dir);

}  // namespace frvt_bridge

#endif
