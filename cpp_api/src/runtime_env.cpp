// Environment for the embedded interpreter, set inside the library (NIST sets nothing).
#include "runtime_env.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>

// The bundled interpreter's major.minor comes from the build (bundle.PY_VERSION), never a guess.
#ifndef FRVT_PYTHON_VERSION
#error "FRVT_PYTHON_VERSION (e.g. \"3.11\") must be set by the build"
#endif

namespace frvt_bridge {
namespace {

bool is_file(const std::string &p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void anchor() {}

}  // namespace

std::string library_dir() {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<void *>(&anchor), &info) == 0 || info.dli_fname == nullptr) return "";
    std::string path(info.dli_fname);
    const auto slash = path.rfind('/');
    // No folder in the name, or one that cannot be resolved: unknown, never "." (the working
    // directory is NIST's, and the TVM runtime must come from the library's own folder).
    if (slash == std::string::npos) return "";
    char *real = ::realpath(path.substr(0, slash).c_str(), nullptr);
    if (real == nullptr) return "";
    std::string dir(real);
    std::free(real);
    return dir;
}

std::string prepare_environment(const std::string &lib_dir) {
    const std::string home = lib_dir + "/python";
    const std::string stdlib = home + "/lib/python" FRVT_PYTHON_VERSION;
    // CPython calls exit() when it cannot find its standard library: check first.
    if (!is_file(stdlib + "/os.py") || !is_file(stdlib + "/encodings/__init__.py"))
        return "bundled Python runtime not found under " + stdlib;
    ::setenv("PYTHONHOME", home.c_str(), 1);
    ::unsetenv("PYTHONPATH");
    ::unsetenv("PYTHONSTARTUP");
    ::setenv("PYTHONNOUSERSITE", "1", 1);
    ::setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    ::setenv("PYTHONIOENCODING", "utf-8", 1);
    for (const char *name : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                             "NUMEXPR_NUM_THREADS", "TVM_NUM_THREADS"})
        ::setenv(name, "1", 1);
    return "";
}

}  // namespace frvt_bridge
