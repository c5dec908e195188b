"""What every decoder's output check shares: a named output present, holding the values its grid gives."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import ConfigError


def check_output(outputs: Mapping[str, np.ndarray], name: str, want: int, needs: str, kind: str) -> None:
    """ConfigError when output `name` is absent or does not hold `want` values; `needs` says which
    settings make that count."""
    if name not in outputs:
        raise ConfigError(f"detector output {name!r} missing from the model's outputs (has {', '.join(outputs)}): "
                          f"models.json detector.outputs names them, the {kind} decoder reads it ({needs})")
    got = outputs[name]
    if got.size != want:
        raise ConfigError(f"detector output {name!r} has shape {tuple(got.shape)} ({got.size} values) but "
                          f"{needs} gives {want} values")


def none_found() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A decode's result when no face reaches the threshold."""
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
