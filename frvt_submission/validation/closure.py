"""Is lib/ self-contained? Every shared object under it must resolve inside lib/ or the system."""

from __future__ import annotations

import subprocess
from pathlib import Path

SYSTEM_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")


def _deps(so: Path, lib_dir: Path) -> list[tuple[str, str]]:
    """(name, resolved path or 'not found') as the loader sees them with LD_LIBRARY_PATH=lib/."""
    proc = subprocess.run(["ldd", str(so)], capture_output=True, text=True,
                          env={"LD_LIBRARY_PATH": str(lib_dir), "PATH": "/usr/bin:/bin"})
    out = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            out.append((name.strip(), rest.split("(")[0].strip() or "not found"))
    return out


def check_closure(lib_dir: Path) -> dict:
    """Scan every .so under lib_dir; report foreign or missing dependencies and sizes in MB."""
    lib_dir = lib_dir.resolve()
    objects = [p for p in lib_dir.rglob("*.so*") if p.is_file() and not p.is_symlink()]
    problems = []
    for so in objects:
        for name, where in _deps(so, lib_dir):
            if where == "not found":
                # Python extension modules may need libpython from the process, not their RPATH.
                if not name.startswith("libpython"):
                    problems.append(f"{so.relative_to(lib_dir)}: {name} not found")
            elif not (where.startswith(str(lib_dir)) or where.startswith(SYSTEM_DIRS)):
                problems.append(f"{so.relative_to(lib_dir)}: {name} -> {where} (outside lib/ and the system)")
    return {"objects": len(objects), "problems": problems, "lib_mb": _mb(lib_dir)}


def _mb(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6, 1)


def folder_mb(folder: Path) -> float:
    return _mb(folder) if folder.is_dir() else 0.0
