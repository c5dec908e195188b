"""Make lib/ self-contained: libpython, a trimmed standard library, the runtime packages, TVM runtime."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import sysconfig
from pathlib import Path

from frvt_runtime.errors import FrvtError

PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
# Standard-library parts the runtime never imports (and the compile-time static lib).
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
               "site-packages", "distutils", "venv", "unittest", "sqlite3", "curses", "dbm",
               f"config-{PY_VERSION}-x86_64-linux-gnu", f"config-{PY_VERSION}-aarch64-linux-gnu"}
# Packages the library imports at run time (never onnx, onnxruntime or the TVM compiler).
RUNTIME_PACKAGES = ("numpy", "tvm_ffi", "typing_extensions", "cffi", "frvt_runtime")
RUNTIME_EXTRAS = ("numpy.libs",)  # vendored shared libraries
SKIP_NAMES = {"__pycache__", "tests", "include", "compile"}


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
                        ignore=lambda d, names: [n for n in names if n in skip or n.endswith(".pyc")])
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
    from frvt_runtime.engine import default_runtime_dir

    lib = (default_runtime_dir() or Path("/nonexistent")) / "libtvm_runtime.so"
    if not lib.is_file():
        raise FrvtError(f"TVM runtime library not found: {lib}")
    return lib


def bundle_runtime(lib_dir: Path, log=print) -> dict:
    """Copy everything the embedded interpreter needs under lib_dir; return sizes in MB."""
    home = lib_dir / "python"
    stdlib_dst = home / "lib" / f"python{PY_VERSION}"
    site = stdlib_dst / "site-packages"
    if home.exists():
        shutil.rmtree(home)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    log(f"bundle: standard library from {stdlib}")
    _copy(stdlib, stdlib_dst, STDLIB_SKIP | {"__pycache__"})
    site.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        src = _package_dir(name)
        _copy(src, site / src.name, SKIP_NAMES if name != "numpy" else {"__pycache__", "tests"})
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

    def mb(p: Path) -> float:
        return round(sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 1e6, 1)

    sizes = {"stdlib": mb(stdlib_dst) - mb(site), "site-packages": mb(site), "lib total": mb(lib_dir)}
    log(f"bundle: {sizes}")
    return sizes
