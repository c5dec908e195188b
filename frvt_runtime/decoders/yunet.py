"""YuNet: per stride, a grid of cls/obj scores, box offsets and 5 landmarks relative to each cell."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

from .grid import check_output, none_found

if TYPE_CHECKING:
    from ..config import DetectorSpec

SETTINGS = ("strides",)
# What decode reads for each stride: output name prefix -> values per grid cell.
HEADS = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}


def check_settings(spec: "DetectorSpec") -> None:
    """strides are checked for every family (config.check_runtime): nothing more to check."""


def check_outputs(outputs: Mapping[str, np.ndarray], spec: "DetectorSpec", size: tuple[int, int]) -> None:
    """Every output decode reads exists and holds one grid of its stride's size."""
    w, h = size
    for s in spec.strides:
        cols, rows = w // s, h // s
        for head, per_cell in HEADS.items():
            check_output(outputs, f"{head}_{s}", cols * rows * per_cell,
                         f"pipeline.json detector.input_size {w}x{h} at stride {s} (detector.strides), a "
                         f"{cols}x{rows} grid of {per_cell},", "yunet")


def decode(outputs: Mapping[str, np.ndarray], spec: "DetectorSpec", size: tuple[int, int],
           threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YuNet heads -> (boxes Nx4 xywh, scores N, landmarks Nx5x2) in detector-input pixels."""
    tw, th = size
    boxes, scores, kps = [], [], []
    for s in spec.strides:
        cols = tw // s
        cls = np.clip(outputs[f"cls_{s}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{s}"].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        keep = np.nonzero(score >= threshold)[0]
        if keep.size == 0:
            continue
        bb = outputs[f"bbox_{s}"].reshape(-1, 4)[keep]
        kp = outputs[f"kps_{s}"].reshape(-1, 10)[keep].reshape(-1, 5, 2)
        c = (keep % cols).astype(np.float32)
        r = (keep // cols).astype(np.float32)
        cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
        w, h = np.exp(np.minimum(bb[:, 2], 10)) * s, np.exp(np.minimum(bb[:, 3], 10)) * s
        boxes.append(np.stack([cx - w / 2, cy - h / 2, w, h], axis=1))
        scores.append(score[keep])
        kps.append(np.stack([(kp[:, :, 0] + c[:, None]) * s, (kp[:, :, 1] + r[:, None]) * s], axis=2))
    if not boxes:
        return none_found()
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)

