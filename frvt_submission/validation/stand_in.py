"""A stand-in build for this machine, when it cannot run the instruction set config/ was compiled for.

config/ built for NIST's skylake-avx512 dies of an illegal instruction on an
AVX2-only CPU. Validation and timing then say so and run the same lib/ with a
config/ compiled for this host, so that the driver phases still check the
library and the timing still measures the pipeline, on code this CPU runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .. import paths
from frvt_runtime.errors import FrvtError
from frvt_runtime.config_dir import path_names, read_manifest



def unrunnable(config_dir: Path) -> dict[str, list[str]]:
    """code path -> the vector features its code uses and this CPU lacks, for each path this CPU
    cannot run (the library runs another; none left: config/ cannot run here)."""
    from frvt_runtime.code_paths import lacking
    from ..compile.isa_class import host_features

    return lacking(read_manifest(config_dir)["paths"], host_features())


def cannot_run(config_dir: Path) -> list[str]:
    """The features this CPU lacks when it can run none of config_dir's code paths; [] when it runs one."""
    found = unrunnable(config_dir)
    return lacked(found) if len(found) == len(path_names(read_manifest(config_dir))) else []


def lacked(found: dict[str, list[str]]) -> list[str]:
    """Every feature an unrunnable() answer names, once."""
    return sorted({f for feats in found.values() for f in feats})


def build_facts(config_dir: Path) -> list[str]:
    """One line per code path and per file: CPU, class and how it was tuned (from models.json)."""
    from ..docs import path_lines

    return path_lines(read_manifest(config_dir))


def _link_tree(src: Path, dst: Path) -> None:
    try:
        shutil.copytree(src, dst, symlinks=True, copy_function=os.link)
    except OSError:  # another file system: copy
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, symlinks=True)


def run_root(root: Path, settings_file: Path, log=print) -> tuple[Path, dict | None]:
    """(the submission root to run, None) when this CPU runs config/; otherwise a stand-in root
    whose config/ is compiled for this host (lib/ and doc/ hard-linked, in the settings file's
    build/host_stand_in), and the facts of both builds."""
    lacks = cannot_run(root / "config")
    if not lacks:
        return root, None
    log(f"this CPU lacks {', '.join(lacks)}, which every code path of config/ uses: it cannot run "
        f"here. Running a stand-in config/ compiled for this host instead (same lib/, same models)")
    stand_in = paths.outputs_for(settings_file).stand_in
    if stand_in.exists():
        shutil.rmtree(stand_in)
    stand_in.mkdir(parents=True)
    for folder in ("lib", "doc"):
        _link_tree(root / folder, stand_in / folder)
    cmd = [sys.executable, "-m", "frvt_submission", "--settings", str(settings_file), "compile", "--cpu", "host",
           "--config-dir", str(stand_in / "config"), "--no-parity"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FrvtError(f"stand-in build for this host failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    host = read_manifest(stand_in / "config")
    host = host["paths"][path_names(host)[0]]
    facts = {"lacks": lacks, "built_for": f"{host['cpu']} ({host.get('isa_class')} class)",
             "submitted": build_facts(root / "config"), "stand_in": build_facts(stand_in / "config")}
    for label, key in (("submitted config/", "submitted"), ("stand-in run here", "stand_in")):
        for line in facts[key]:
            log(f"  {label}: {line}")
    return stand_in, facts
