"""The tables OpenCV's resampling reads, computed in numpy and cached per size.

INTER_AREA's cells and weights, INTER_LINEAR's fixed-point coefficients, warpAffine's output
grid and inverse map. frvt_runtime.resample feeds them to the compiled kernels or to its numpy
loops; both give OpenCV's bytes only because these tables are OpenCV's, rounding included.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np


# Output rows (columns) per block of the banded weight products: small enough that the band's
# zeros cost little, large enough for the matrix product to run at speed.
ROW_BLOCK, COL_BLOCK = 16, 16


def _area_cells(src: int, dst: int, d: np.ndarray) -> tuple:
    """OpenCV's computeResizeAreaTab for outputs d: the source span of each output's cell."""
    scale = 1.0 / (dst / src)  # as OpenCV: from the double inverse scale
    f1 = np.minimum(d, dst - 1) * scale
    f2 = f1 + scale
    cell = np.minimum(scale, src - f1)
    s2 = np.minimum(np.floor(f2), src - 1).astype(np.intp)
    s1 = np.minimum(np.ceil(f1), s2).astype(np.intp)
    left = s1 - f1 > 1e-3       # a partly covered pixel before s1, one at s2, full ones between
    right = f2 - s2 > 1e-3
    return s1, s2, f1, f2, cell, left, right


def _area_weight(cells: tuple, j: np.ndarray) -> np.ndarray:
    """The weight of source j in each output's cell (cells broadcast against j), float32 as OpenCV."""
    s1, s2, f1, f2, cell, left, right = cells
    w = np.where((j >= s1) & (j < s2), 1.0 / cell, 0.0)
    w = np.where(left & (j == s1 - 1), (s1 - f1) / cell, w)
    w = np.where(right & (j == s2), np.minimum(np.minimum(f2 - s2, 1.0), cell) / cell, w)
    return w.astype(np.float32)


@lru_cache(maxsize=32)
def area_band(src: int, dst: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """INTER_AREA's weights per block of `block` outputs: the first source index of each block
    and a (blocks, block, k) float32 array of the weights of sources first .. first + k - 1."""
    d = np.arange(-(-dst // block) * block)
    cells = _area_cells(src, dst, d)
    s1, s2, _, _, _, left, right = cells
    first = np.where(left, s1 - 1, s1).reshape(-1, block).min(axis=1)
    last = np.where(right, s2, s2 - 1).reshape(-1, block).max(axis=1)
    k = min(int((last - first).max()) + 1, src)
    first = np.minimum(first, src - k)
    j = first[:, None, None] + np.arange(k)                           # (blocks, 1, k) sources
    w = _area_weight(tuple(a.reshape(-1, block, 1) for a in cells), j)
    w[d.reshape(-1, block) >= dst] = 0.0                               # padding outputs
    for a in (first, w):
        a.setflags(write=False)
    return first, w


@lru_cache(maxsize=32)
def area_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """INTER_AREA's sources and weights per output, in OpenCV's order, zero-padded: (dst, t)."""
    cells = _area_cells(src, dst, np.arange(dst))
    s1, s2, _, _, _, left, right = cells
    lo, hi = np.where(left, s1 - 1, s1), np.where(right, s2, s2 - 1)
    j = lo[:, None] + np.arange(int((hi - lo).max()) + 1)
    pad = j > hi[:, None]                      # past an output's cell: weight 0 (any source)
    j = np.minimum(j, src - 1)
    w = _area_weight(tuple(a[:, None] for a in cells), j)
    w[pad] = 0.0
    return j, w


@lru_cache(maxsize=32)
def area_taps32(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """area_taps as the kernels take them: int32 sources, float32 weights, C-contiguous."""
    j, w = area_taps(src, dst)
    j, w = np.ascontiguousarray(j, np.int32), np.ascontiguousarray(w, np.float32)
    for a in (j, w):
        a.setflags(write=False)
    return j, w


@lru_cache(maxsize=32)
def area_value_taps32(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """area_taps32 of the columns per output value of an RGB row, transposed to (taps, dst * 3):
    the kernel's inner loop then runs over contiguous outputs."""
    j, w = area_taps(src, dst)
    j = (j[:, None, :] * 3 + np.arange(3)[None, :, None]).reshape(dst * 3, -1)
    j, w = np.ascontiguousarray(j.T, np.int32), np.ascontiguousarray(np.repeat(w, 3, axis=0).T, np.float32)
    for a in (j, w):
        a.setflags(write=False)
    return j, w


@lru_cache(maxsize=8)  # ~0.8 MB each for a 640 px output
def column_weights(src: int, dst: int, lanes: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """area_band of the columns as right-hand matrices for interleaved rows: each also picks
    `channels` of a pixel's `lanes` values (a Kronecker product with a lanes x channels eye)."""
    first, w = area_band(src, dst, COL_BLOCK)
    blocks, n, k = w.shape
    mats = np.zeros((blocks, k, lanes, n, channels), np.float32)
    for c in range(min(lanes, channels)):  # lane c of a source pixel feeds channel c only
        mats[:, :, c, :, c] = w.transpose(0, 2, 1)
    mats = mats.reshape(blocks, k * lanes, n * channels)
    mats.setflags(write=False)
    return first, mats


def linear_coefs(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's INTER_LINEAR source index pairs and 11-bit fixed-point weights (each weight
    rounded on its own, as OpenCV: they may sum to 2047 or 2049)."""
    f = ((np.arange(dst) + 0.5) * (1.0 / (dst / src)) - 0.5).astype(np.float32)
    i = np.floor(f)
    f -= i
    i = i.astype(np.intp)
    f[i < 0] = 0
    i[i < 0] = 0
    f[i >= src - 1] = 0
    i[i >= src - 1] = src - 1
    a = np.rint(np.stack([np.float32(1) - f, f]) * np.float32(2048)).astype(np.int32)
    return i, np.minimum(i + 1, src - 1), a


@lru_cache(maxsize=8)
def warp_grid(tw: int, th: int) -> tuple[np.ndarray, np.ndarray]:
    """A warp's output column numbers (float64: exact products below) and row numbers (float32)."""
    return np.arange(tw, dtype=np.float64), np.arange(th, dtype=np.float32)


def invert_affine_f32(m) -> tuple[float, ...]:
    """invert_affine's six values (row by row), each rounded to float32, as Python floats: struct
    rounds as numpy's float32 conversion does, without a numpy call."""
    values = _inverse_values(m)
    try:
        return struct.unpack("6f", struct.pack("6f", *values))
    except OverflowError:  # beyond float32's range (a near-singular matrix): numpy gives inf
        return tuple(np.array(values, np.float32).tolist())


def _inverse_values(m) -> tuple[float, ...]:
    """cv2.invertAffineTransform of a 2x3 matrix in float64, its six values row by row (zero when
    singular, as OpenCV)."""
    (m00, m01, m02), (m10, m11, m12) = np.asarray(m, np.float64).tolist()
    d = m00 * m11 - m01 * m10
    d = 1.0 / d if d != 0 else 0.0
    a11, a22, a12, a21 = m11 * d, m00 * d, -m01 * d, -m10 * d
    return a11, a12, -a11 * m02 - a12 * m12, a21, a22, -a21 * m02 - a22 * m12


def invert_affine(m) -> np.ndarray:
    """cv2.invertAffineTransform of a 2x3 matrix, in float64 (zero when singular, as OpenCV)."""
    return np.array(_inverse_values(m)).reshape(2, 3)
