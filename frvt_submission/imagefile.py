"""Read image files for the tooling (OpenCV decodes; the library itself gets raw NIST pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from frvt_runtime.errors import RefuseInput

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp"}  # the files the tooling takes as photos


def read_image(path: Path) -> np.ndarray:
    """Decode any image file OpenCV reads (JPEG, PNG incl. 16-bit/alpha, PPM/PGM) as RGB uint8."""
    import cv2

    raw = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    if raw is None or raw.size == 0:
        raise RefuseInput(f"cannot read image file {path}")
    try:
        img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # e.g. a header claiming more pixels than OpenCV's limit
        raise RefuseInput(f"not a decodable image: {path} (OpenCV: {getattr(exc, 'err', '') or exc})") from None
    if img is None:
        raise RefuseInput(f"not a decodable image: {path}")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:  # float (TIFF, EXR...): no agreed range, so no guess at one
        raise RefuseInput(f"{img.dtype} pixels are not taken, 8- or 16-bit images only: {path}")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:  # alpha dropped: the colour under it is kept as it is
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
