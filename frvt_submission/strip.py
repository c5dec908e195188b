"""Strip symbol tables and debug info from shared objects we build (TVM models, libpython's copy)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from frvt_runtime.errors import FrvtError


def strip_unneeded(files: list[Path], log) -> int:
    """strip --strip-unneeded in place: what only a linker or debugger reads goes, the dynamic
    symbols a loader needs stay. Returns the bytes saved (0, with a note, without binutils).
    Only for files we built or CPython did: strip can corrupt the layout patchelf leaves in
    auditwheel-repaired wheel libraries, so those are never passed here."""
    strip = shutil.which("strip")
    if strip is None:
        log("note: `strip` (binutils) not found; shared objects left unstripped")
        return 0
    saved = 0
    for f in files:
        before = f.stat().st_size
        proc = subprocess.run([strip, "--strip-unneeded", str(f)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise FrvtError(f"strip failed on {f}: {proc.stderr.strip()}")
        saved += before - f.stat().st_size
    return saved
