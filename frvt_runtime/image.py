"""Turn raw NIST buffers into the pipeline's one internal form: HxWx3 uint8 RGB."""

from __future__ import annotations

import numpy as np

from .errors import RefuseInput


def from_raw(width: int, height: int, depth: int, data: bytes | memoryview | None) -> np.ndarray:
    """A NIST FRVT::Image (24 = interleaved RGB, 8 = grey) as RGB; bad shapes raise RefuseInput.

    Colour frames are a read-only view of data, not a copy."""
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
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    # A colour frame is used in place: the caller's buffer outlives the call, and copying a
    # 3000x4500 frame cost ~10 ms. Read-only, so a stage that wrote into it would fail loudly
    # rather than modify NIST's image.
    img.flags.writeable = False
    return img
