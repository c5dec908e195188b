"""Turn files and raw NIST buffers into one internal form: HxWx3 uint8 RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import RefuseInput


def from_raw(width: int, height: int, depth: int, data: bytes | memoryview | None) -> np.ndarray:
    """A NIST FRVT::Image (24 = interleaved RGB, 8 = grey) as RGB; bad shapes raise RefuseInput."""
    if depth not in (8, 24):
        raise RefuseInput(f"unsupported image depth {depth} (8 or 24 expected)")
    if width <= 0 or height <= 0:
        raise RefuseInput(f"empty image {width}x{height}")
    if data is None:
        raise RefuseInput("image has no data")
    channels = depth // 8
    need = width * height * channels
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size < need:
        raise RefuseInput(f"image data has {buf.size} bytes, {need} needed for {width}x{height}x{channels}")
    img = buf[:need].reshape(height, width, channels)
    return np.repeat(img, 3, axis=2) if channels == 1 else img.copy()


def read_image(path: Path) -> np.ndarray:
    """Decode any image file OpenCV reads (JPEG, PNG incl. 16-bit/alpha, PPM/PGM) as RGB uint8."""
    import cv2

    raw = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    if raw is None or raw.size == 0:
        raise RefuseInput(f"cannot read image file {path}")
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RefuseInput(f"not a decodable image: {path}")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:  # composite on black: alpha carries no identity information
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
