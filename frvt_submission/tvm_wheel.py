"""Where the venv's apache-tvm wheel keeps libtvm_runtime.so: the tooling's runtime folder (the library uses its own)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def wheel_runtime_dir() -> Path | None:
    """The wheel's tvm/lib folder, found without importing tvm (the compiler takes seconds to load)."""
    spec = importlib.util.find_spec("tvm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve() / "lib"
