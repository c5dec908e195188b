"""initialize() needs the library's folder: the TVM runtime comes from lib/, never the working directory."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from frvt_submission import paths

CONFIG_ERROR = 2


@pytest.fixture
def in_process_service(monkeypatch):
    """frvt_runtime.service bound to a CFFI view of the bridge header (no library, no TVM): its
    guard and error mapping run exactly as in the library, on structs built here."""
    import cffi

    from frvt_runtime import service

    ffi = cffi.FFI()
    ffi.cdef((paths.ROOT / "cpp_api" / "bridge" / "frvt_bridge_decls.h").read_text())
    monkeypatch.setattr(service, "ffi", ffi)
    monkeypatch.setattr(service, "lib", ffi.dlopen(None))  # the header's #define constants
    return service


# -- libtvm_runtime.so from the library's folder only ----------------------------------------------------
@pytest.mark.parametrize("lib_dir", [None, "", "lib"])
def test_initialize_needs_the_library_folder_as_an_absolute_path(in_process_service, lib_dir):
    """No folder, or one relative to NIST's working directory, is a ConfigError before any model loads."""
    service, ffi = in_process_service, in_process_service.ffi
    limits, status = ffi.new("frvtb_limits *"), ffi.new("frvtb_status *")
    keep = [ffi.new("char[]", str(paths.SUB_CONFIG).encode()),
            ffi.NULL if lib_dir is None else ffi.new("char[]", lib_dir.encode())]
    rc = service.initialize(keep[0], keep[1], limits, status)
    assert (rc, status.code) == (service.lib.FRVTB_OK, CONFIG_ERROR)
    assert b"the library's folder is unknown" in ffi.string(status.info)


PLANTED = """
import sys
from pathlib import Path
from frvt_runtime.engine import TvmModel
from frvt_runtime.errors import ConfigError
arg = sys.argv[2]
try:
    TvmModel(Path(sys.argv[1]), ["fc1"], None if arg == "None" else Path(arg))
    print("loaded", end=" ")
except ConfigError as exc:
    print("ConfigError", end=" ")
    print(exc, file=sys.stderr)
maps = open("/proc/self/maps").read()
print("planted-mapped" if str(Path.cwd() / "libtvm_runtime.so") in maps else "planted-unmapped")
"""


@pytest.mark.parametrize("runtime_dir,want", [("None", "ConfigError planted-unmapped"),
                                              (".", "ConfigError planted-unmapped"),
                                              ("lib", "loaded planted-unmapped")])
def test_the_engine_never_loads_the_runtime_from_the_working_directory(built, tmp_path, runtime_dir, want):
    """A real libtvm_runtime.so planted in the cwd of a fresh process (no TVM loaded yet), with a
    relative LD_LIBRARY_PATH as NIST's ./lib: neither no folder nor a relative one loads it (a bare
    or relative name would reach it through the loader's search); the library's absolute folder works."""
    work = tmp_path / "cwd"
    work.mkdir()
    shutil.copyfile(built["lib"].parent / "libtvm_runtime.so", work / "libtvm_runtime.so")
    arg = str(built["lib"].parent.resolve()) if runtime_dir == "lib" else runtime_dir
    r = subprocess.run([sys.executable, "-c", PLANTED, str(paths.SUB_CONFIG / "recognizer.so"), arg], cwd=work,
                       env={"PYTHONPATH": str(paths.ROOT), "PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "."},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == want, r.stderr
    if want.startswith("ConfigError"):
        assert "never the working directory" in r.stderr
