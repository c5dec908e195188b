"""Make lib/ self-contained: libpython, a trimmed standard library, the runtime packages, TVM runtime."""

from __future__ import annotations

import importlib.util
import py_compile
import shutil
import sys
import sysconfig
from pathlib import Path

from frvt_runtime.errors import FrvtError

PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
# Packages the library imports at run time (never onnx, onnxruntime or the TVM compiler);
# CFFI's embedding needs only its _cffi_backend extension, not the cffi package.
RUNTIME_PACKAGES = ("numpy", "tvm_ffi", "typing_extensions", "frvt_runtime")
RUNTIME_EXTRAS = ("numpy.libs",)  # vendored shared libraries
SKIP_NAMES = {"__pycache__", "tests", "include"}
# Parts of a package the runtime never loads: build helpers, C sources and headers, type stubs.
NUMPY_DROPPABLE = frozenset({"random", "fft", "polynomial", "f2py", "distutils", "testing", "tests", "typing",
                             "_pyinstaller"})
# Names or module stems (name up to the first dot); numpy's _simd and *_tests extension
# modules exist for numpy's own test suite (tvm_ffi loads its libtvm_ffi_testing.so at import).
PACKAGE_SKIP = {"numpy": frozenset({"doc", "_simd", "_multiarray_tests", "_operand_flag_tests", "_rational_tests",
                                    "_struct_ufunc_tests", "_umath_tests"}),
                "tvm_ffi": frozenset({"src", "3rdparty", "cython", "stub", "testing"})}


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise FrvtError(f"runtime package {name} is not installed")
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin)


def _copy(src: Path, dst: Path, skip=frozenset()) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=False, dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if n in skip or n.split(".")[0] in skip
                                                 or n.endswith((".pyc", ".pyi"))])
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def libpython() -> Path:
    lib = Path(sysconfig.get_config_var("LIBDIR")) / sysconfig.get_config_var("INSTSONAME")
    if not lib.is_file():
        raise FrvtError(f"shared libpython not found at {lib}")
    return lib


def tvm_runtime_lib() -> Path:
    """libtvm_runtime.so from the apache-tvm wheel (found without importing the compiler)."""
    from ..tvm_wheel import wheel_runtime_dir

    lib = (wheel_runtime_dir() or Path("/nonexistent")) / "libtvm_runtime.so"
    if not lib.is_file():
        raise FrvtError(f"TVM runtime library not found: {lib}")
    return lib


def _compile_sourceless(home: Path) -> int:
    """Replace every bundled .py by its byte-code in its place (mod.py -> mod.pyc, which CPython
    imports without a source): 7.5 MB of sources no longer ship beside their 8 MB of .pyc, and
    nothing is compiled at initialize(). The code objects name their file as lib/ has it, so an
    error's "at file.py:line" still points at the source. A file that does not compile (e.g. a
    Python 2 example inside a package) could never be imported: it goes too."""
    count = 0
    for f in sorted(home.rglob("*.py")):
        try:
            py_compile.compile(str(f), cfile=str(f.with_suffix(".pyc")), dfile=str(f.relative_to(home)),
                               doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
            count += 1
        except py_compile.PyCompileError:
            pass
        f.unlink()
    return count


def bundle_runtime(lib_dir: Path, log=print, config_dir: Path | None = None) -> dict:
    """Copy everything the embedded interpreter needs under lib_dir; return sizes in MB.
    The standard library is cut to what a traced run of the runtime loads or its source
    names (imports.py); config_dir, when compiled, lets the trace run the pipeline."""
    from ..strip import strip_unneeded
    from .imports import stdlib_files, traced_modules, unloaded_subpackages
    from .runpath import absolute_runpaths, drop_absolute_runpaths

    home = lib_dir / "python"
    stdlib_dst = home / "lib" / f"python{PY_VERSION}"
    site = stdlib_dst / "site-packages"
    if home.exists():
        shutil.rmtree(home)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    log("bundle: tracing the runtime's imports (a pipeline run in a fresh interpreter) ...")
    traced = traced_modules(config_dir)
    keep = stdlib_files(traced)
    for rel in keep:
        _copy(stdlib / rel, stdlib_dst / rel)
    log(f"bundle: {len(keep)} standard-library files of {stdlib} (the rest is never imported)")
    site.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        src = _package_dir(name)
        skip = SKIP_NAMES | PACKAGE_SKIP.get(name, frozenset())
        if name == "numpy":  # numpy loads its sub-packages lazily: ship the ones the runtime loads,
            # dropping only those numpy's own code never imports on the way (np.unique imports
            # numpy.ma, which a blank-frame trace does not reach: the small-face path does)
            unused = unloaded_subpackages(traced, name, src) & NUMPY_DROPPABLE
            log(f"bundle: numpy without {', '.join(sorted(unused))} (never loaded by the runtime)")
            skip |= unused
        _copy(src, site / src.name, skip)
    for pattern in ("_cffi_backend*.so",):
        for f in _package_dir("cffi").parent.glob(pattern):
            _copy(f, site / f.name)
    for extra in RUNTIME_EXTRAS:
        src = _package_dir("numpy").parent / extra
        if src.is_dir():
            _copy(src, site / extra)
    _copy(libpython(), lib_dir / libpython().name)
    _copy(tvm_runtime_lib(), lib_dir / "libtvm_runtime.so")
    # libtvm_runtime.so needs libtvm_ffi.so: point lib/ at the copy tvm_ffi loads, so the
    # loader resolves it on its own and both names are one file (one soname, loaded once).
    ffi_link = lib_dir / "libtvm_ffi.so"
    if ffi_link.is_symlink() or ffi_link.exists():
        ffi_link.unlink()
    ffi_link.symlink_to(Path("python") / "lib" / f"python{PY_VERSION}" / "site-packages" / "tvm_ffi" / "lib" /
                        "libtvm_ffi.so")
    saved = strip_unneeded([lib_dir / libpython().name, *sorted((stdlib_dst / "lib-dynload").glob("*.so"))], log)
    log(f"bundle: stripped libpython and the stdlib's extension modules ({saved / 1e6:.1f} MB saved)")
    log(f"bundle: {_compile_sourceless(home)} modules byte-compiled, their sources left out")
    drop_absolute_runpaths(lib_dir, log)
    for folder in (lib_dir, config_dir):  # the build fails rather than ship a build machine's folder
        left = absolute_runpaths(folder) if folder is not None and folder.is_dir() else {}
        if left:
            raise FrvtError(f"ELF files in {folder} still have absolute run paths: {left}")

    def mb(p: Path) -> float:
        return round(sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6, 1)

    sizes = {"stdlib": round(mb(stdlib_dst) - mb(site), 1), "site-packages": mb(site), "lib total": mb(lib_dir)}
    log(f"bundle: {sizes}")
    return sizes
