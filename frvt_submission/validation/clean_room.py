"""Clean-room run: lib/ + config/ copied elsewhere, with the interpreter, venv and project hidden.

Inside a private mount namespace (`unshare -m`, needs root), empty tmpfs mounts
cover the Python installation, the virtual environment and the project
checkout; the driver then enrols images with only LD_LIBRARY_PATH=./lib. Any
file the library still takes from those places makes the run fail.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import paths


def outermost(folders: set[str]) -> list[str]:
    """Drop folders inside another: mounting over the outer one first would make the
    inner mount point vanish (a venv inside the checkout is hidden with it)."""
    return sorted(p for p in folders if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in folders))


def hidden_paths(root: Path) -> list[str]:
    # The checkout too when root is elsewhere (a stand-in root under build/ is inside it anyway).
    found = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), os.path.realpath(root),
             os.path.realpath(paths.ROOT)}
    return outermost({p for p in found if os.path.isdir(p) and p != "/"})


def run_clean_room(root: Path, driver: Path, images: list[Path]) -> tuple[str, str]:
    """('ok' | 'ERROR' | 'skipped', detail)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "skipped", "needs root and unshare (mount namespaces)"
    with tempfile.TemporaryDirectory(prefix="frvt-cleanroom-") as tmp:
        room = Path(tmp)
        shutil.copytree(root / "lib", room / "lib", symlinks=True)
        shutil.copytree(root / "config", room / "config")
        shutil.copy2(driver, room / "validate11")
        (room / "img").mkdir()
        rows = []
        for i, img in enumerate(images):
            shutil.copy2(img, room / "img" / img.name)
            rows.append(f"c{i} {room / 'img' / img.name} faceunknown")
        (room / "list.txt").write_text("\n".join(rows) + "\n")
        mounts = " && ".join(f"mount -t tmpfs none {shlex.quote(p)}" for p in hidden_paths(root))
        run = (f"cd {shlex.quote(str(room))} && env -i LD_LIBRARY_PATH=./lib ./validate11 createTemplate -x enroll "
               f"-c ./config -o {shlex.quote(str(room))} -h enroll -i list.txt -t 2 -j {shlex.quote(str(room))}")
        proc = subprocess.run(["unshare", "-m", "bash", "-c", f"{mounts} && {run}"], capture_output=True, text=True)
        log = room / "enroll.log"
        lines = log.read_text().splitlines()[1:] if log.is_file() else []
        if proc.returncode != 0 or len(lines) != len(images):
            return "ERROR", f"exit {proc.returncode}, {len(lines)}/{len(images)} rows: {proc.stderr.strip()[-300:]}"
        return "ok", f"{len(lines)} rows with {', '.join(hidden_paths(root))} hidden"
