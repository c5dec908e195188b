"""The OpenCV calls the runtime made before it went numpy-only: the reference for tests and stage timing."""

from __future__ import annotations

import contextlib

import numpy as np

from frvt_runtime.image import from_raw as _view_from_raw


def downscale_to(image: np.ndarray, size: tuple[int, int], downscale: str) -> np.ndarray:
    """frvt_runtime.detect.downscale_to as it was: 2x INTER_AREA steps, then INTER_AREA (or INTER_LINEAR)."""
    import cv2

    if downscale != "area":
        return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        h, w = image.shape[:2]
        image = cv2.resize(image[: h // 2 * 2, : w // 2 * 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def warp(image: np.ndarray, landmarks: np.ndarray, template: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """frvt_runtime.align.warp as it was: cv2.warpAffine, INTER_LINEAR, constant 0 border."""
    import cv2

    from frvt_runtime.align import similarity_transform

    m = similarity_transform(landmarks, template)
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def from_raw(width: int, height: int, depth: int, data) -> np.ndarray:
    """frvt_runtime.image.from_raw as it was: a private copy of every colour frame."""
    img = _view_from_raw(width, height, depth, data)
    return img.copy() if depth == 24 else img


@contextlib.contextmanager
def opencv_runtime():
    """Run the runtime's resize, warp and frame conversion through the OpenCV versions above."""
    import cv2

    from frvt_runtime import detect, embed, image

    cv2.setNumThreads(0)  # as the library did: every OpenCV call runs in the caller's thread
    saved = (detect.downscale_to, embed.warp, image.from_raw)
    detect.downscale_to, embed.warp, image.from_raw = downscale_to, warp, from_raw
    try:
        yield
    finally:
        detect.downscale_to, embed.warp, image.from_raw = saved
