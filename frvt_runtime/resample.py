"""OpenCV's resize (INTER_AREA, INTER_LINEAR) and warpAffine (INTER_LINEAR): compiled kernels, or numpy.

With config/'s compiled kernels installed (use_kernels, by config_dir.load_config_dir)
the colour halvings, INTER_AREA and warpAffine run there, fed with the tables of
resample_tables; the numpy loops below are the fallback for any other input (grey, other
dtypes) or a config/ without kernels. Both give OpenCV's bytes (tests/test_resample).
"""

from __future__ import annotations

import numpy as np

from .resample_tables import (ROW_BLOCK, area_band, area_taps, area_taps32, area_value_taps32, column_weights,
                              invert_affine, invert_affine_f32, linear_coefs, warp_grid)

# The compiled kernels (frvt_runtime.resample_kernels.ResampleKernels) or None. One per process:
# the library loads one config/, and every build's kernels compute the same bytes.
_kernels = None


def use_kernels(kernels) -> None:
    """Route the colour resampling through compiled kernels (None: numpy only)."""
    global _kernels
    _kernels = kernels


def _kernel_input(image: np.ndarray) -> np.ndarray | None:
    """image as the kernels take it (C-contiguous uint8 HxWx3), or None when numpy must do it."""
    if _kernels is None or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        return None
    return image if image.flags.c_contiguous else np.ascontiguousarray(image)

# Output rows per strip in the 2x halvings: the scratch of a strip (~0.6 MB for a 3000 px
# row) stays in the L2 cache, and strips are long enough that numpy's per-call cost is small.
_STRIP_ROWS = 32
_ROUND = np.uint64(0x0002_0002_0002_0002)  # + 2 in every 16-bit lane, then >> 2: OpenCV's rounding
_LANES = np.uint64(0x0000_00FF_00FF_00FF)  # after the shift: three 8-bit values, the 4th lane cleared


def area_downscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Exact 2x halvings while the image is at least twice size (w, h), then INTER_AREA to size.

    Each step is what cv2.resize(..., INTER_AREA) computes for it. Between the steps a colour
    image is kept as (h, w, 4) uint16, the 4th lane unused: one pixel is one uint64, so a
    horizontal pair is two neighbouring uint64 values and a 2x2 sum is three uint64 additions
    whose 16-bit lanes cannot overflow into each other (an interleaved RGB row has no such
    view: pairing its pixels needs slow 3-element inner loops in numpy).
    """
    tw, th = size
    img = _kernel_input(image)
    if img is not None:
        while img.shape[1] >= 2 * tw and img.shape[0] >= 2 * th:
            twice = img.shape[1] >= 4 * tw and img.shape[0] >= 4 * th
            img = _kernels.halve(img, 2 if twice else 1)
        return _area(img, tw, th) if (img.shape[1], img.shape[0]) != (tw, th) else img
    img = image
    while img.shape[1] >= 2 * tw and img.shape[0] >= 2 * th:
        if image.ndim != 3 or image.shape[2] != 3:
            img = halve(img)
        elif img is image:
            img = _halve_rgb(img)
        else:
            img = _halve_lanes(img)
    if (img.shape[1], img.shape[0]) != (tw, th):
        return _area(img, tw, th)
    return img if img.dtype == np.uint8 else img[:, :, :3].astype(np.uint8)


def halve(image: np.ndarray) -> np.ndarray:
    """An exact 2x box average, (a + b + c + d + 2) >> 2 per 2x2 block as OpenCV's INTER_AREA
    rounds an exact halving; an odd last row or column is dropped (OpenCV's size is floor(w/2))."""
    img = _kernel_input(image)
    if img is not None:
        return _kernels.halve(img)
    if image.ndim == 3 and image.shape[2] == 3:
        return _halve_rgb(image)[:, :, :3].astype(np.uint8)
    h2, w2 = image.shape[0] // 2, image.shape[1] // 2
    img = image[: 2 * h2, : 2 * w2].astype(np.uint16)
    out = (img[0::2, 0::2] + img[0::2, 1::2] + img[1::2, 0::2] + img[1::2, 1::2] + 2) >> 2
    return out.astype(np.uint8)


def _halve_rgb(image: np.ndarray) -> np.ndarray:
    """halve() of an interleaved RGB uint8 image, as (h/2, w/2, 4) uint16 lanes."""
    h2, w2 = image.shape[0] // 2, image.shape[1] // 2
    out = np.empty((h2, w2, 4), np.uint16)
    if h2 == 0 or w2 == 0:
        return out
    width = 6 * w2
    rows = image[: 2 * h2, : 2 * w2].reshape(h2, 2, width)
    pixels = out.reshape(h2, w2 * 4).view(np.uint64)
    # one spare uint16 per row: the odd pixel's uint64 below reads one lane past the row
    vsum = np.zeros((_STRIP_ROWS, width + 4), np.uint16)
    pitch = vsum.strides[0]
    for top in range(0, h2, _STRIP_ROWS):
        n = min(_STRIP_ROWS, h2 - top)
        np.add(rows[top:top + n, 0], rows[top:top + n, 1], out=vsum[:n, :width], dtype=np.uint16)
        # Pixel 2q of a summed row starts at uint16 6q, pixel 2q+1 at 6q+3: read four lanes
        # at each (the 4th is the next pixel's red) and add them as uint64.
        even = np.ndarray((n, w2), np.uint64, vsum, 0, (pitch, 12))
        odd = np.ndarray((n, w2), np.uint64, vsum, 6, (pitch, 12))
        dst = pixels[top:top + n]
        np.add(even, odd, out=dst)
        dst += _ROUND
        dst >>= np.uint64(2)
        dst &= _LANES
    return out


def _halve_lanes(lanes: np.ndarray) -> np.ndarray:
    """halve() of an (h, w, 4) uint16 image whose values fit in 8 bits, in the same form."""
    h2, w2 = lanes.shape[0] // 2, lanes.shape[1] // 2
    px = lanes[: 2 * h2, : 2 * w2].reshape(2 * h2, 8 * w2).view(np.uint64).reshape(h2, 2, 2 * w2)
    out = np.empty((h2, w2, 4), np.uint16)
    dst = out.reshape(h2, 4 * w2).view(np.uint64)
    vsum = np.empty((_STRIP_ROWS, 2 * w2), np.uint64)
    for top in range(0, h2, _STRIP_ROWS):
        n = min(_STRIP_ROWS, h2 - top)
        v = vsum[:n]
        np.add(px[top:top + n, 0], px[top:top + n, 1], out=v)
        d = dst[top:top + n]
        np.add(v[:, 0::2], v[:, 1::2], out=d)
        d += _ROUND
        d >>= np.uint64(2)
        d &= _LANES
    return out


def _area_exact(image: np.ndarray, at: np.ndarray, size: tuple[int, int], lanes: int, channels: int) -> np.ndarray:
    """The values at flat indices `at` of INTER_AREA's (th, tw, channels) output as OpenCV sums them:
    sources times weights one by one in float32, columns first, then rows, rounded. Used where a
    faster sum in another order lies within float error of x.5 and could round the other way."""
    tw, th = size
    h, w = image.shape[:2]
    dy, rest = np.divmod(at, tw * channels)
    dx, c = np.divmod(rest, channels)
    yi, yw = area_taps(h, th)
    xi, xw = area_taps(w, tw)
    where = (yi[dy][:, :, None] * w + xi[dx][:, None, :]) * lanes + c[:, None, None]
    src = np.take(image.reshape(-1), where).astype(np.float32)        # (values, row taps, col taps)
    ax, ay = xw[dx], yw[dy]
    buf = src[:, :, 0] * ax[:, None, 0]
    for t in range(1, ax.shape[1]):
        buf = buf + src[:, :, t] * ax[:, None, t]
    total = buf[:, 0] * ay[:, 0]
    for t in range(1, ay.shape[1]):
        total = total + buf[:, t] * ay[:, t]
    return np.rint(total)


def resize_area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.resize(image, size, interpolation=INTER_AREA) for a shrink (size = (w, h) <= image)."""
    h, w = image.shape[:2]
    tw, th = size
    if (tw, th) == (w, h):
        return image.copy()
    if tw > w or th > h or tw < 1 or th < 1:
        raise ValueError(f"resize_area shrinks only: {w}x{h} -> {tw}x{th}")
    if 2 * tw == w and 2 * th == h:
        return halve(image)
    if w % tw == 0 and h % th == 0:
        return _box(image, w // tw, h // th)
    return _area(image, tw, th)


def _box(image: np.ndarray, kx: int, ky: int) -> np.ndarray:
    """OpenCV's integer-factor INTER_AREA: the block sum times 1/area in float, rounded to even."""
    h, w = image.shape[0] // ky, image.shape[1] // kx
    blocks = image[: h * ky, : w * kx].reshape(h, ky, w, kx, -1)
    total = blocks.sum(axis=(1, 3), dtype=np.int32).astype(np.float32)
    out = np.rint(total * np.float32(1.0 / (kx * ky))).astype(np.uint8)
    return out if image.ndim == 3 else out[:, :, 0]


def _area(image: np.ndarray, tw: int, th: int) -> np.ndarray:
    """General INTER_AREA in float32: rows, then columns, each a banded weight matrix product.

    `image` is uint8 (h, w[, c]), or the (h, w, 4) uint16 lanes of area_downscale (3 channels
    out). OpenCV sums the same weights in another order; the few values near x.5, where that
    can decide the rounding, are then redone in OpenCV's order (_area_exact).
    """
    h, w = image.shape[:2]
    img = _kernel_input(image)
    if img is not None:
        out, at = _kernels.area(img, area_taps32(h, th), area_value_taps32(w, tw))
        if at.size:
            out.reshape(-1)[at] = _area_exact(img, at, (tw, th), 3, 3)
        return out
    lanes = image.shape[2] if image.ndim == 3 else 1
    channels = 3 if image.dtype == np.uint16 else lanes
    src = image.reshape(h, w * lanes)
    first, wy = area_band(h, th, ROW_BLOCK)
    k = wy.shape[2]
    rows = np.empty((wy.shape[0] * ROW_BLOCK, w * lanes), np.float32)
    for b, lo in enumerate(first.tolist()):
        np.matmul(wy[b], src[lo:lo + k].astype(np.float32), out=rows[b * ROW_BLOCK:(b + 1) * ROW_BLOCK])
    rows = rows[:th]
    first, mats = column_weights(w, tw, lanes, channels)
    k, n = mats.shape[1], mats.shape[2]
    out = np.empty((th, tw * channels), np.float32)
    for b, lo in enumerate(first.tolist()):
        part = rows[:, lo * lanes:lo * lanes + k]
        if (b + 1) * n <= out.shape[1]:
            np.matmul(part, mats[b], out=out[:, b * n:(b + 1) * n])
        else:  # the last block's padding outputs are dropped
            out[:, b * n:] = (part @ mats[b])[:, :out.shape[1] - b * n]
    rounded = np.rint(out)  # in [0, 255] (a weighted mean of bytes, weights summing to 1)
    err = out - rounded
    np.abs(err, out=err)
    at = np.flatnonzero(err > 0.499)  # both sums are within ~1e-4 of the exact value
    if at.size:
        rounded.reshape(-1)[at] = _area_exact(image, at, (tw, th), lanes, channels)
    res = rounded.astype(np.uint8)
    return res.reshape(th, tw, channels) if image.ndim == 3 else res


def resize_linear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.resize(image, size, interpolation=INTER_LINEAR) for uint8, with OpenCV's fixed point:
    equal for a shrink (the runtime's use); enlarging is within one grey level."""
    h, w = image.shape[:2]
    tw, th = size
    if 2 * tw == w and 2 * th == h:
        return halve(image)  # OpenCV itself switches to INTER_AREA for an exact halving
    img = image if image.ndim == 3 else image[:, :, None]
    x0, x1, ax = linear_coefs(w, tw)
    y0, y1, by = linear_coefs(h, th)
    need = np.unique(np.concatenate([y0, y1]))  # only the source rows the output uses
    sub = img[need].astype(np.int32)
    rows = np.empty((h, tw, img.shape[2]), np.int32)
    rows[need] = sub[:, x0] * ax[0][None, :, None] + sub[:, x1] * ax[1][None, :, None]
    # the SIMD path's rounding: each weighted row >> 4, products >> 16, then (sum + 2) >> 2
    out = ((by[0][:, None, None] * (rows[y0] >> 4)) >> 16) + ((by[1][:, None, None] * (rows[y1] >> 4)) >> 16)
    out = np.clip((out + 2) >> 2, 0, 255).astype(np.uint8)
    return out if image.ndim == 3 else out[:, :, 0]


def warp_affine(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.warpAffine(image, matrix, size, INTER_LINEAR, BORDER_CONSTANT, 0) for uint8 images.

    As OpenCV (4.11 on) computes it: each output pixel maps back through the inverse matrix in
    float32 (a row term, then one fused multiply-add per column, exact here in float64 and
    rounded once) and is interpolated in float32 by fused multiply-adds; neighbours outside the
    image count as 0. (OpenCV before 4.11 used 5-bit fixed-point weights instead: up to 4 grey
    levels from this on real faces.)
    """
    tw, th = size
    h, w = image.shape[:2]
    ch = image.shape[2] if image.ndim == 3 else 1
    img = _kernel_input(image)
    if img is not None:
        # Few numpy calls: this runs once per face, right after the models have evicted the caches,
        # where each call costs several times its warm time.
        a, b, c, d, e, f = invert_affine_f32(matrix)
        # The output's corners mapped back: the map is affine, so when all four lie inside with a
        # margin far above float32's error there, every pixel's 4 neighbours do.
        xs = (c, a * (tw - 1) + c, b * (th - 1) + c, a * (tw - 1) + b * (th - 1) + c)
        ys = (f, d * (tw - 1) + f, e * (th - 1) + f, d * (tw - 1) + e * (th - 1) + f)
        inside = min(xs) >= 0.01 and max(xs) <= w - 1.01 and min(ys) >= 0.01 and max(ys) <= h - 2.01
        return _kernels.warp(img, np.array((a, d, b, e, c, f), np.float32), size, inside)
    inv = invert_affine(matrix).astype(np.float32)
    cols, rows = warp_grid(tw, th)
    row_terms = rows * inv[:, 1:2] + inv[:, 2:3]                      # (2, th), float32
    src = (row_terms[:, :, None] + inv[:, 0:1, None].astype(np.float64) * cols).astype(np.float32)
    src = src.reshape(2, -1)                                          # x and y of every pixel
    whole = np.floor(src)
    src -= whole                                                      # the fractions
    with np.errstate(invalid="ignore"):  # NaN or huge coordinates become far-off integers: outside
        ix, iy = whole.astype(np.intp)
    pixels = image.reshape(h * w, ch)
    if ix.min() >= 0 and iy.min() >= 0 and ix.max() < w - 1 and iy.max() < h - 1:
        at = iy * w
        at += ix
        p = np.take(pixels, at + np.array([[0], [1], [w], [w + 1]]), axis=0)  # the 4 neighbours
    else:
        p = _border_gather(pixels, w, h, ix, iy)
        np.nan_to_num(src, copy=False, nan=0.0, posinf=0.0, neginf=0.0)  # all 4 are 0 there
    # (top/bottom, left/right, pixel x channel): each plane in the output's order, so every
    # step below is one long contiguous loop (numpy is slow on inner loops of 3 channels)
    p = p.astype(np.float32).reshape(2, 2, -1)
    fx, fy = np.repeat(src, ch, axis=1) if ch > 1 else src
    t = p[:, 1] - p[:, 0]              # the two horizontal lerps, then the vertical one
    t *= fx
    t += p[:, 0]
    out = t[1] - t[0]
    out *= fy
    out += t[0]
    # Where fusing could decide the rounding (a value within float error of x.5), redo the
    # three multiply-adds fused as OpenCV: exact in float64, rounded once to float32.
    rounded = np.rint(out)             # in [0, 255]: a convex combination of bytes
    out -= rounded
    at = np.flatnonzero(np.abs(out, out=out) > 0.499)
    if at.size:
        q, ax, ay = p[:, :, at].astype(np.float64), fx[at].astype(np.float64), fy[at].astype(np.float64)
        top, bottom = (ax * (q[:, 1] - q[:, 0]) + q[:, 0]).astype(np.float32)
        rounded[at] = np.rint((ay * (bottom - top) + top).astype(np.float32))
    return rounded.astype(np.uint8).reshape((th, tw, ch) if image.ndim == 3 else (th, tw))


def _border_gather(pixels: np.ndarray, w: int, h: int, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """warp_affine's 4 neighbours of every pixel where some lie outside the image: those are 0."""
    out = []
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        x, y = ix + dx, iy + dy
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        out.append(np.take(pixels, np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1), axis=0) * inside[:, None])
    return np.stack(out)


