"""Pure alignment functions: least-squares similarity (Umeyama) and the warp to the template."""

from __future__ import annotations

import numpy as np

from .resample import warp_affine


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix M minimising sum |M [src;1] - dst|^2 over rotation+uniform scale+translation.

    Umeyama (1991) over all points: a robust estimator that may drop points
    (LMEDS/RANSAC) moved embeddings as far as cosine 0.89 from this one.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = (s_c ** 2).sum() / n
    cov = d_c.T @ s_c / n
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / var_s if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def warp(image: np.ndarray, landmarks: np.ndarray, template: np.ndarray,
         size: tuple[int, int]) -> np.ndarray:
    """Crop the face by mapping its landmarks onto the template; size is (width, height)."""
    return warp_affine(image, similarity_transform(landmarks, template), size)
