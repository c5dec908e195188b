"""RetinaFace (biubug6's layout): softmax face scores, box and 5-landmark offsets from square priors at each stride.

Outputs loc [1,N,4], conf [1,N,2] (background, face) and landmarks [1,N,10]; N runs over strides,
then grid rows, then columns, then the stride's prior sizes. A prior at cell (col, row) of stride s
with side m (px) is centred on ((col + 0.5) s, (row + 0.5) s); an offset d moves a point by
d * variances[0] * m, and a side is m * exp(d * variances[1]).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

import numpy as np

from ..errors import ConfigError
from .grid import check_output, none_found

if TYPE_CHECKING:
    from ..config import DetectorSpec

SETTINGS = ("strides", "min_sizes", "variances")
EXAMPLE = "e.g. strides = [8, 16, 32], min_sizes = [[16, 32], [64, 128], [256, 512]], variances = [0.1, 0.2]"


def check_settings(spec: "DetectorSpec") -> None:
    """min_sizes: one list of positive prior sides per stride; variances: two positive numbers."""
    sizes = spec.min_sizes
    if len(sizes) != len(spec.strides) or not all(
            isinstance(m, tuple) and m and all(_positive(v) for v in m) for m in sizes):
        raise ConfigError(f"[detector] min_sizes must hold, for each of the {len(spec.strides)} strides, a list of "
                          f"positive prior sides in pixels; got {_listed(sizes)} ({EXAMPLE})")
    if len(spec.variances) != 2 or not all(_positive(v) for v in spec.variances):
        raise ConfigError(f"[detector] variances must be two positive numbers (centre, size); got "
                          f"{_listed(spec.variances)} ({EXAMPLE})")


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _listed(v):
    return [_listed(x) for x in v] if isinstance(v, tuple) else v


def priors(spec: "DetectorSpec", size: tuple[int, int]) -> np.ndarray:
    """Nx3 (centre x, centre y, side) in input pixels, in the outputs' order."""
    w, h = size
    parts = []
    for s, sides in zip(spec.strides, spec.min_sizes):
        cols, rows = math.ceil(w / s), math.ceil(h / s)
        cx, cy = np.meshgrid((np.arange(cols) + 0.5) * s, (np.arange(rows) + 0.5) * s)
        centres = np.repeat(np.stack([cx.ravel(), cy.ravel()], axis=1), len(sides), axis=0)
        parts.append(np.hstack([centres, np.tile(np.asarray(sides, np.float64), rows * cols)[:, None]]))
    return np.concatenate(parts)


def prior_count(spec: "DetectorSpec", size: tuple[int, int]) -> int:
    w, h = size
    return sum(math.ceil(w / s) * math.ceil(h / s) * len(sides) for s, sides in zip(spec.strides, spec.min_sizes))


def check_outputs(outputs: Mapping[str, np.ndarray], spec: "DetectorSpec", size: tuple[int, int]) -> None:
    """loc, conf and landmarks exist, each holding its values for every prior."""
    n = prior_count(spec, size)
    for name, per_prior in (("loc", 4), ("conf", 2), ("landmarks", 10)):
        check_output(outputs, name, n * per_prior,
                     f"pipeline.json detector.input_size {size[0]}x{size[1]} with detector.strides "
                     f"{list(spec.strides)} and min_sizes {_listed(spec.min_sizes)}, {n} priors of {per_prior},",
                     "retinaface")


def decode(outputs: Mapping[str, np.ndarray], spec: "DetectorSpec", size: tuple[int, int],
           threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RetinaFace outputs -> (boxes Nx4 xywh, scores N, landmarks Nx5x2) in detector-input pixels."""
    score = outputs["conf"].reshape(-1, 2)[:, 1]
    keep = np.nonzero(score >= threshold)[0]
    if keep.size == 0:
        return none_found()
    p = priors(spec, size)[keep]
    centre, side = p[:, :2], p[:, 2:]
    v_centre, v_side = spec.variances
    loc = outputs["loc"].reshape(-1, 4)[keep].astype(np.float64)
    lm = outputs["landmarks"].reshape(-1, 5, 2)[keep].astype(np.float64)
    wh = side * np.exp(np.minimum(loc[:, 2:] * v_side, 10))
    xy = centre + loc[:, :2] * v_centre * side - wh / 2
    kps = centre[:, None, :] + lm * v_centre * side[:, None, :]
    return (np.hstack([xy, wh]).astype(np.float32), score[keep].astype(np.float32), kps.astype(np.float32))
