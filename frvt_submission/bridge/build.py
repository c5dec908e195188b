"""Build lib/libfrvt_11_<co>_<seq>.so: CFFI embedding C source + the C++ implementation, via CMake."""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path

from .. import paths
from ..config import Settings
from frvt_runtime.errors import FrvtError
from ..progress import heartbeat
from .bundle import PY_VERSION
from .headers import write_headers

BRIDGE_DIR = paths.ROOT / "cpp_api" / "bridge"
DECLS = BRIDGE_DIR / "frvt_bridge_decls.h"
GENERATED = paths.BUILD / "generated"  # the same for every settings file: the declarations, not the names

# Runs inside the embedded interpreter on the first bridge call. If it raises,
# CFFI leaves every call returning zeros, which the C++ side reads as "not started".
INIT_CODE = """
from frvt_runtime import runtime_env
runtime_env.prepare()
from _frvt_bridge import ffi, lib
from frvt_runtime import service
service.install(ffi, lib)
"""


def generate_sources(out_dir: Path = GENERATED) -> Path:
    """Write the CFFI embedding C file and the generated headers (headers.py); return the C file."""
    import cffi

    write_headers(out_dir)
    ffibuilder = cffi.FFI()
    ffibuilder.embedding_api(DECLS.read_text())
    ffibuilder.set_source("_frvt_bridge", '#include "frvt_bridge.h"')
    ffibuilder.embedding_init_code(INIT_CODE)
    c_file = out_dir / "_frvt_bridge.c"
    ffibuilder.emit_c_code(str(c_file))
    return c_file


def _run(cmd: list[str], log) -> None:
    log("$ " + " ".join(cmd))
    with heartbeat(log, cmd[0] + " " + cmd[1]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FrvtError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}"
                        f"\n{proc.stderr[-4000:]}")


def build_library(settings: Settings, lib_dir: Path, cmake_dir: Path, log=print) -> Path:
    """Compile and link the submission library into lib_dir (CMake's build in cmake_dir); return its path."""
    c_file = generate_sources()
    sub = settings.submission
    py_inc = sysconfig.get_paths()["include"]
    py_lib = Path(sysconfig.get_config_var("LIBDIR")) / sysconfig.get_config_var("LDLIBRARY")
    if not py_lib.is_file():
        raise FrvtError(f"shared libpython not found at {py_lib}: Python must be built with --enable-shared")
    cmake_dir.mkdir(parents=True, exist_ok=True)
    _run(["cmake", "-S", str(paths.ROOT / "cpp_api"), "-B", str(cmake_dir), "-DCMAKE_BUILD_TYPE=Release",
          f"-DFRVT_COMPANY={sub.company}", f"-DFRVT_SEQUENCE={sub.sequence}",
          f"-DFRVT_GENERATED_DIR={c_file.parent}", f"-DFRVT_PYTHON_INCLUDE={py_inc}",
          f"-DFRVT_PYTHON_LIBRARY={py_lib}", f"-DFRVT_PYTHON_VERSION={PY_VERSION}",
          f"-DFRVT_OUTPUT_DIR={lib_dir.resolve()}"], log)
    _run(["cmake", "--build", str(cmake_dir), "--target", "frvt_library", "-j", "2"], log)
    out = lib_dir / sub.library_name
    if not out.is_file():
        raise FrvtError(f"build finished but {out} is missing")
    return out
