"""The onnxruntime reference path: the same pre/post-processing as the submission, plain ONNX inference.

Never shipped: onnxruntime is the numerical reference and a benchmark peer only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from frvt_runtime.config import ModelSpec
from .config import Settings
from frvt_runtime.detect import Detector
from frvt_runtime.embed import Recognizer
from frvt_runtime.engine import Engine
from frvt_runtime.pipeline import FacePipeline


def to_tensor(image: np.ndarray, colour: str, mean: Sequence[float], scale: Sequence[float]) -> np.ndarray:
    """HxWx3 RGB uint8 -> 1x3xHxW float32 in the model's colour order and normalisation.

    One plane at a time, written in place: casting a reversed-channel view and
    transposing afterwards took ~5 ms at 640x640, this ~0.3 ms, same values.
    """
    h, w = image.shape[:2]
    out = np.empty((1, 3, h, w), np.float32)
    for c, src in enumerate((2, 1, 0) if colour == "BGR" else (0, 1, 2)):
        plane = out[0, c]
        plane[...] = image[:, :, src]
        if mean[c] != 0.0:
            plane -= np.float32(mean[c])
        if scale[c] != 1.0:
            plane *= np.float32(scale[c])
    return out


def tensor_input(run: Callable[[np.ndarray], dict[str, np.ndarray]], spec: ModelSpec) -> Engine:
    """An engine over a model that takes the float NCHW tensor of spec's colour order and normalisation."""
    return lambda image: run(to_tensor(image, spec.colour, spec.mean, spec.scale))


class OrtModel:
    """onnxruntime on one thread over the float NCHW tensor: the numerical reference and
    benchmark peer, never shipped. Wrap it in tensor_input to give it images."""

    def __init__(self, onnx_path: Path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self._sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        self._input = self._sess.get_inputs()[0].name
        self.output_names = [o.name for o in self._sess.get_outputs()]

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        outs = self._sess.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})
        return dict(zip(self.output_names, outs))


def reference_detector(settings: Settings) -> Detector:
    """The detector at each of its input sizes under onnxruntime (the cleaned ONNX, resized)."""
    from .models.prepare import cleaned_onnx

    det = settings.detector
    return Detector(det, {size: tensor_input(OrtModel(cleaned_onnx(det.at_size(size))), det)
                          for size in det.sizes()}, settings.pipeline.downscale)


def reference_pipeline(settings: Settings) -> FacePipeline:
    """The submission's pipeline with onnxruntime inference on the cleaned ONNX models."""
    from .models.prepare import cleaned_onnx

    rec = settings.recognizer
    return FacePipeline(settings, reference_detector(settings),
                        Recognizer(rec, tensor_input(OrtModel(cleaned_onnx(rec)), rec)))
