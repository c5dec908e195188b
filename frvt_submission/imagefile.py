"""Read image files for the tooling (OpenCV decodes; the library itself gets raw NIST pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from frvt_runtime.errors import RefuseInput

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp"}  # the files the tooling takes as photos


def pnm_maxval(raw: np.ndarray) -> tuple[str, int] | None:
    """(magic, maxval) of a grey or colour PNM file's header (P2, P3, P5, P6), else None."""
    head = bytes(raw[:4096])
    if head[:2] not in (b"P2", b"P3", b"P5", b"P6"):
        return None
    tokens, i = [], 2
    while len(tokens) < 3 and i < len(head):
        if head[i:i + 1] == b"#":  # a comment runs to the end of its line
            end = head.find(b"\n", i)
            i = len(head) if end < 0 else end
        elif head[i:i + 1].isspace():
            i += 1
        else:
            j = i
            while j < len(head) and not head[j:j + 1].isspace() and head[j:j + 1] != b"#":
                j += 1
            tokens.append(head[i:j])
            i = j
    if len(tokens) < 3 or not tokens[2].isdigit() or not 0 < int(tokens[2]) < 65536:
        return None
    return head[:2].decode(), int(tokens[2])


def _to_8_bits(img: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """img's samples on 0..255. OpenCV leaves a PNM's samples on its own 0..maxval scale (a 10-bit
    PGM's white is 1023, and a binary one's of maxval 100 is 100), but for the 8-bit ASCII kinds,
    which it scales itself; a 16-bit PNG spans 0..65535."""
    pnm = pnm_maxval(raw)
    if pnm is not None:
        magic, maxval = pnm
        if img.dtype == np.uint16 or (magic in ("P5", "P6") and maxval != 255):
            return ((img.astype(np.uint32) * 255 + maxval // 2) // maxval).clip(0, 255).astype(np.uint8)
        return img
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    return img


def read_image(path: Path) -> np.ndarray:
    """Decode any image file OpenCV reads (JPEG, PNG incl. 16-bit/alpha, PPM/PGM) as RGB uint8."""
    import cv2

    if Path(path).is_dir():
        raise RefuseInput(f"cannot read image file {path}: a folder")
    if not Path(path).exists():
        raise RefuseInput(f"cannot read image file {path}: no such file")
    try:
        raw = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise RefuseInput(f"cannot read image file {path}: {exc.strerror or exc}") from None
    if raw.size == 0:
        raise RefuseInput(f"cannot read image file {path}: empty (0 bytes)")
    try:
        img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # e.g. a header claiming more pixels than OpenCV's limit
        raise RefuseInput(f"not a decodable image: {path} (OpenCV: {getattr(exc, 'err', '') or exc})") from None
    if img is None:
        raise RefuseInput(f"not a decodable image: {path}")
    if img.dtype not in (np.uint8, np.uint16):  # float (TIFF, EXR...): no agreed range, so no guess at one
        raise RefuseInput(f"{img.dtype} pixels are not taken, 8- or 16-bit images only: {path}")
    img = _to_8_bits(img, raw)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:  # alpha dropped: the colour under it is kept as it is
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
