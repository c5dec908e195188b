"""Pure alignment functions: least-squares similarity (Umeyama) and the warp to the template."""

from __future__ import annotations

import math

import numpy as np

from .resample import warp_affine


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix M minimising sum |M [src;1] - dst|^2 over rotation+uniform scale+translation.

    Umeyama (1991) over all points: a robust estimator that may drop points
    (LMEDS/RANSAC) moved embeddings as far as cosine 0.89 from this one. In 2D its
    SVD has a closed form: with centred points, scale*R = [[a, -b], [b, a]] where
    a = sum(s . d) / sum|s|^2 and b = sum(s x d) / sum|s|^2 (a proper rotation, never a
    reflection). Plain floats: numpy's per-call cost on 5 points was ~0.1 ms a face.
    """
    (sx, sy), (dx, dy) = np.asarray(src, np.float64).T.tolist(), np.asarray(dst, np.float64).T.tolist()
    n = len(sx)
    msx, msy, mdx, mdy = sum(sx) / n, sum(sy) / n, sum(dx) / n, sum(dy) / n
    var = dot = cross = 0.0
    for x, y, u, v in zip(sx, sy, dx, dy):
        x, y, u, v = x - msx, y - msy, u - mdx, v - mdy
        var += x * x + y * y
        dot += x * u + y * v
        cross += x * v - y * u
    if not math.isfinite(var + dot + cross):
        raise ValueError("landmarks or template are not finite")
    a, b = (dot / var, cross / var) if var > 0 else (1.0, 0.0)
    return np.array([[a, -b, mdx - a * msx + b * msy], [b, a, mdy - b * msx - a * msy]])


def warp(image: np.ndarray, landmarks: np.ndarray, template: np.ndarray,
         size: tuple[int, int]) -> np.ndarray:
    """Crop the face by mapping its landmarks onto the template; size is (width, height)."""
    return warp_affine(image, similarity_transform(landmarks, template), size)
