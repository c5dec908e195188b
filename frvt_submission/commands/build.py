"""`frvt build`: lib/libfrvt_11_<co>_<seq>.so (C++ + CFFI bridge), its bundled runtime, and doc/."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from .common import add_command, log, settings


def cmd_build(args) -> int:
    from ..bridge.build import build_library
    from ..bridge.bundle import bundle_runtime
    from ..docs import write_version_file

    s = settings(args)
    config_dir = Path(args.config_dir)
    if not (config_dir / "models.json").is_file():
        log(f"error: {config_dir} has no compiled models; run `compile` first")
        return 2
    lib_dir = Path(args.lib_dir)
    lib_dir.mkdir(parents=True, exist_ok=True)
    for old in lib_dir.glob("libfrvt_11_*.so"):
        old.unlink()  # exactly one libfrvt_11_*_???.so may exist
    so = build_library(s, lib_dir, log)
    bundle_runtime(lib_dir, log, config_dir)
    version = write_version_file(s, config_dir, paths.SUB_DOC)
    log(f"built {so}\nwrote {version}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "build", cmd_build,
                    "build lib/libfrvt_11_<co>_<seq>.so (C++ + CFFI bridge), bundle its runtime, doc/")
    p.add_argument("--config-dir", default=str(paths.SUB_CONFIG), help="compiled config folder")
    p.add_argument("--lib-dir", default=str(paths.SUB_LIB), help="output folder (default: lib/)")
