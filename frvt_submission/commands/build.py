"""`frvt build`: lib/libfrvt_11_<co>_<seq>.so (C++ + CFFI bridge), its bundled runtime, and doc/."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.errors import FrvtError

from .common import add_command, log, make_hint, output_option, settings


def cmd_build(args) -> int:
    from ..bridge.build import build_library
    from ..bridge.bundle import bundle_runtime
    from ..docs import write_version_file

    s = settings(args)
    config_dir = Path(args.config_dir)
    if not (config_dir / "models.json").is_file():
        raise FrvtError(f"{config_dir} has no compiled models: run `{make_hint(args, 'compile')}` first")
    lib_dir = Path(args.lib_dir)
    lib_dir.mkdir(parents=True, exist_ok=True)
    for old in lib_dir.glob("libfrvt_11_*.so"):
        old.unlink()  # exactly one libfrvt_11_*_???.so may exist
    so = build_library(s, lib_dir, args.outputs.cmake_lib, log)
    bundle_runtime(lib_dir, log, config_dir)
    version = write_version_file(s, config_dir, args.outputs.doc)
    log(f"built {so}\nwrote {version}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "build", cmd_build,
                    "build lib/libfrvt_11_<co>_<seq>.so (C++ + CFFI bridge), bundle its runtime, doc/")
    output_option(p, "--config-dir", lambda o: o.config, "config/", "compiled config folder")
    output_option(p, "--lib-dir", lambda o: o.lib, "lib/", "output folder", written="folder")
