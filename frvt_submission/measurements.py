"""The stamped files the measuring commands leave, and docs/measurements.md made from them (`frvt measurements`)."""

from __future__ import annotations

import json
from pathlib import Path

from . import paths
from .docs import measurement_stamp

MEASUREMENTS = paths.BUILD / "measurements"
PARITY_JSON = MEASUREMENTS / "parity.json"  # frvt parity (and compile, which runs it)
EVAL_JSON = MEASUREMENTS / "eval.json"  # frvt eval
TIMING_JSON = "timing.json"  # frvt time, in its output folder
TIMING_OUTPUT = paths.BUILD / "timing"
VALIDATION_OUTPUT = paths.SUB_VALIDATION / "output"  # validate.sh's summary.json


def bench_json(isa_class: str | None, folder: Path = MEASUREMENTS) -> Path:
    """frvt bench's file for the ISA class its TVM build was compiled for."""
    return folder / f"bench-{isa_class}.json"


def _plain(value):
    """numpy's numbers as JSON's (json knows float64, a float, but not int64)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def write_measurement(path: Path, data: dict, config_dir: Path | None) -> Path:
    """data and the stamp of what was measured (config_dir's build; None: the onnxruntime
    reference) as JSON at path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**data, "stamp": measurement_stamp(config_dir)}, indent=1, default=_plain) + "\n")
    return path
