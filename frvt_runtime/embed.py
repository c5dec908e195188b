"""Face recognition: aligned crop -> embedding (L2-normalised)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .config import RecognizerSpec
from .align import warp


class Recognizer:
    def __init__(self, spec: RecognizerSpec, infer: Callable[[np.ndarray], dict[str, np.ndarray]]):
        self.spec, self.infer = spec, infer
        self.template = np.asarray(spec.alignment_template, dtype=np.float64)

    def align(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return warp(image, landmarks, self.template, self.spec.input_size)

    def embed_aligned(self, crop: np.ndarray) -> np.ndarray:
        s = self.spec
        out = self.infer(crop)
        vec = np.asarray(next(iter(out.values())), dtype=np.float32).reshape(-1)
        if vec.size != s.embedding_size:
            raise ValueError(f"recognizer gave {vec.size} values, embedding_size is {s.embedding_size}")
        return normalise(vec)


def normalise(vec: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError("embedding is zero or not finite")
    return (vec / norm).astype(np.float32)
