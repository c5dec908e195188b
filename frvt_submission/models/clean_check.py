"""The clean-up's proof: the cleaned model's outputs against onnxruntime's on the original, on real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from frvt_runtime.config import ModelSpec
from frvt_runtime.detect import letterbox
from frvt_runtime.errors import ConfigError

# The clean-up folds weights and rewrites graph plumbing: the same arithmetic up to fp32 rounding.
# Worst difference allowed, relative to the output's largest magnitude (at least 1).
MAX_RELATIVE_DIFF = 1e-4


def input_size_of(onnx_path: Path, spec: ModelSpec) -> tuple[int, int]:
    """(w, h) the model takes: its fixed input dims, else (dynamic) spec's input_size."""
    import onnx

    dims = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    h, w = (dims[2].dim_value, dims[3].dim_value) if len(dims) == 4 else (0, 0)
    return (w, h) if w and h else tuple(spec.input_size)


def check_cleaned(original: Path, cleaned: Path, spec: ModelSpec, images: list[Path]) -> dict:
    """Run both under onnxruntime on each image (letterboxed to the model's input, in spec's colour
    order and normalisation); ConfigError naming the output when any differs beyond rounding."""
    from ..imagefile import read_image
    from ..reference import OrtModel, to_tensor

    if not images:
        raise ConfigError(f"[{spec.name}] no images to check the cleaned model {cleaned.name} on")
    size = input_size_of(original, spec)
    before, after = OrtModel(original), OrtModel(cleaned)
    worst = 0.0
    for path in images:
        x = to_tensor(letterbox(read_image(path), size, "area")[0], spec.colour, spec.mean, spec.scale)
        ref, got = before(x), after(x)
        for name, a in ref.items():
            b = got.get(name)
            if b is None or b.shape != a.shape:
                raise ConfigError(f"[{spec.name}] cleaned model {cleaned.name}: output {name!r} is "
                                  f"{'missing' if b is None else b.shape} against the original's {a.shape}")
            diff = float(np.max(np.abs(a - b), initial=0.0)) / max(1.0, float(np.max(np.abs(a), initial=0.0)))
            worst = max(worst, diff)
            if not diff <= MAX_RELATIVE_DIFF:
                raise ConfigError(f"[{spec.name}] cleaned model {cleaned.name} changes output {name!r} on {path.name} "
                                  f"by {diff:.2g} of its range (allowed {MAX_RELATIVE_DIFF}): the clean-up "
                                  f"(models/clean.py) does not preserve this model")
    return {"images": len(images), "size": list(size), "max_relative_diff": worst}
