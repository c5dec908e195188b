"""The template byte format (defined here only), its encoder/decoder, and the match score.

Layout, little-endian, 16-byte header then payload:
  offset 0  uint32  magic      0x54525646 ("FVRT" as bytes F V R T)
  offset 4  uint16  version    1
  offset 6  uint16  flags      bit 0: extraction failed (no payload)
  offset 8  uint32  dim        number of float32 values (0 when failed)
  offset 12 uint16  n_images   images that contributed an embedding
  offset 14 uint16  reserved   0
  offset 16 float32[dim]       L2-normalised embedding
The C++ matcher reads the same layout from a C header that the build generates from
these constants (frvt_submission/bridge/headers.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .errors import TemplateFormatError

MAGIC = 0x54525646
VERSION = 1
FLAG_FAILED = 0x1
HEADER = struct.Struct("<IHHIHH")
HEADER_FIELDS = ("magic", "version", "flags", "dim", "n_images", "reserved")  # HEADER's fields, in order
HEADER_SIZE = HEADER.size  # 16
MAX_DIM = 65536
SCORE_MAX = 1_000_000.0
FAILED_SCORE = -1.0


@dataclass(frozen=True)
class Template:
    embedding: np.ndarray | None  # None when extraction failed
    n_images: int = 1

    @property
    def failed(self) -> bool:
        return self.embedding is None


def encode(embedding: np.ndarray | None, n_images: int = 1) -> bytes:
    """Bytes of a template; embedding None gives a (valid) failure template."""
    if embedding is None:
        return HEADER.pack(MAGIC, VERSION, FLAG_FAILED, 0, 0, 0)
    vec = np.asarray(embedding, dtype="<f4").reshape(-1)
    if not 0 < vec.size <= MAX_DIM or not np.all(np.isfinite(vec)):
        raise ValueError("embedding must be 1..65536 finite values")
    return HEADER.pack(MAGIC, VERSION, 0, vec.size, min(n_images, 0xFFFF), 0) + vec.tobytes()


def decode(data: bytes) -> Template:
    """Parse template bytes; anything malformed raises TemplateFormatError (never reads past the end)."""
    if len(data) < HEADER_SIZE:
        raise TemplateFormatError(f"template has {len(data)} bytes, header needs {HEADER_SIZE}")
    magic, version, flags, dim, n_images, _ = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise TemplateFormatError(f"bad magic 0x{magic:08x}")
    if version != VERSION:
        raise TemplateFormatError(f"template version {version}, this build reads {VERSION}")
    if flags & FLAG_FAILED:
        if dim != 0 or len(data) != HEADER_SIZE:
            raise TemplateFormatError("failure template with a payload")
        return Template(None, n_images)
    if not 0 < dim <= MAX_DIM or len(data) != HEADER_SIZE + 4 * dim:
        raise TemplateFormatError(f"dim {dim} does not match {len(data)} bytes")
    vec = np.frombuffer(data, dtype="<f4", count=dim, offset=HEADER_SIZE)
    if not np.all(np.isfinite(vec)):
        raise TemplateFormatError("template payload is not finite")
    return Template(vec, n_images)


def cosine_to_score(cos: float) -> float:
    """Similarity in [0, 1e6]: cosine in [-1, 1] mapped linearly, clamped."""
    return float(min(max((cos + 1.0) * 0.5, 0.0), 1.0) * SCORE_MAX)


def score_to_cosine(score: float) -> float:
    return score / SCORE_MAX * 2.0 - 1.0


def match(verif: bytes, enroll: bytes) -> tuple[float, str]:
    """(score, status) with status "ok", "failed" (a failure template: score -1) or "format"."""
    try:
        a, b = decode(verif), decode(enroll)
    except TemplateFormatError:
        return FAILED_SCORE, "format"
    if a.failed or b.failed:
        return FAILED_SCORE, "failed"
    if a.embedding.size != b.embedding.size:
        return FAILED_SCORE, "format"
    cos = float(np.dot(a.embedding.astype(np.float64), b.embedding.astype(np.float64)))
    return cosine_to_score(cos), "ok"


def combine(embeddings: list[np.ndarray]) -> np.ndarray | None:
    """One embedding for several images of a person: the re-normalised mean direction."""
    if not embeddings:
        return None
    mean = np.mean(np.stack(embeddings).astype(np.float64), axis=0)
    norm = np.linalg.norm(mean)
    if norm < 1e-9:  # opposite embeddings: fall back to the first image
        return np.asarray(embeddings[0], np.float32)
    return (mean / norm).astype(np.float32)

