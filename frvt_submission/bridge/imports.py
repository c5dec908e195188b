"""Which standard-library files the runtime needs: a traced run of the pipeline plus every import its source names."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

from frvt_runtime.errors import FrvtError

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "frvt_runtime"
# Looked up by name at run time (codec names, CFFI's embedding start-up), so no import names them.
ALWAYS = ("encodings", "_cffi_backend", "site", "sitecustomize")

# Runs in a fresh interpreter: what the library's Python does (start-up, bridge service, template
# calls on real faces through every path the pipeline has: each registry photo, a 3000x4500 frame,
# a small face that is detected again enlarged, a turned photo, a grey frame, a blank frame, a
# multi-person call), plus every module the runtime's source imports anywhere, even inside a
# function; then prints each loaded module's file. (A blank frame alone missed numpy.ma, which
# np.unique needs on the small-face path.)
TRACE = r"""
import importlib, json, sys
names, config_dir, frames_file = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
from frvt_runtime import runtime_env
import frvt_runtime.service
for name in names:
    try:
        importlib.import_module(name)
    except ImportError:
        pass  # an optional import (the source guards it); what it needs is not needed
if config_dir:
    import numpy as np
    from frvt_submission.tvm_wheel import wheel_runtime_dir
    from frvt_runtime.pipeline import FacePipeline
    from frvt_runtime.image import from_raw
    p = FacePipeline.from_config_dir(config_dir, wheel_runtime_dir())
    with np.load(frames_file) as frames:
        for key in frames.files:
            img = frames[key]
            depth = 24 if img.ndim == 3 else 8
            p.create_template([from_raw(img.shape[1], img.shape[0], depth, img.tobytes())])
    p.create_multi_person(np.full((300, 200, 3), 255, np.uint8))
print(json.dumps({m: getattr(mod, "__file__", None) for m, mod in list(sys.modules.items())}))
"""


def source_imports(folder: Path = RUNTIME_DIR) -> set[str]:
    """Every absolute module name imported anywhere in folder's .py files (and each parent package)."""
    names: set[str] = set()
    for f in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found = [node.module]
            else:
                continue
            for name in found:
                parts = name.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return names


def trace_frames() -> dict[str, np.ndarray]:
    """The frames the traced run passes through the pipeline, decoded here (the traced interpreter
    must not load the tooling's decoders): every registry photo, a 4x enlargement, a 6x reduction
    (its face is under small_face_px), a turned photo, a blank frame and a grey one."""
    from ..imagefile import read_image
    from ..testdata import test_images

    photos = [read_image(f) for f in sorted(test_images().iterdir()) if f.suffix != ".csv"]
    first = photos[0]
    extra = [np.repeat(np.repeat(first, 4, axis=0), 4, axis=1), first[::6, ::6], np.rot90(first),
             np.zeros((480, 640, 3), np.uint8), first[:, :, 1]]
    return {f"f{i}": np.ascontiguousarray(img) for i, img in enumerate(photos + extra)}


def traced_modules(config_dir: Path | None) -> dict[str, str | None]:
    """module name -> file, loaded by a traced run of the runtime in a fresh interpreter."""
    names = sorted(n for n in source_imports() if not n.startswith("frvt_runtime"))
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp) / "frames.npz"
        np.savez(frames, **(trace_frames() if config_dir else {}))
        proc = subprocess.run([sys.executable, "-c", TRACE, json.dumps(names), str(config_dir or ""), str(frames)],
                              capture_output=True, text=True, cwd=RUNTIME_DIR.parent)
    if proc.returncode != 0:
        raise FrvtError(f"tracing the runtime's imports failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def unloaded_subpackages(traced: dict[str, str | None], package: str, folder: Path) -> set[str]:
    """Sub-package folders of package that the traced run never loaded (numpy's random, fft, ma ...)."""
    loaded = {m.split(".")[1] for m in traced if m.startswith(package + ".")}
    return {d.name for d in folder.iterdir() if (d / "__init__.py").is_file() and d.name not in loaded}


def stdlib_files(traced: dict[str, str | None]) -> list[Path]:
    """Standard-library files (relative to the stdlib folder) the traced run loaded, with each
    package's __init__ and the whole of ALWAYS's packages."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    keep: set[Path] = set()
    for name, file in traced.items():
        if not file:
            continue
        path = Path(file).resolve()
        if stdlib in path.parents and "site-packages" not in path.parts:
            keep.add(path.relative_to(stdlib))
    for name in ALWAYS:
        pkg = stdlib / name
        if pkg.is_dir():
            keep.update(p.relative_to(stdlib) for p in pkg.rglob("*.py"))
    for rel in list(keep):  # a module's packages must import too
        for parent in rel.parents:
            if parent != Path(".") and (stdlib / parent / "__init__.py").is_file():
                keep.add(parent / "__init__.py")
    return sorted(keep)
