"""TVM kernels for the pipeline's resampling (2x halvings, INTER_AREA, warpAffine), compiled into config/.

The runtime calls them through frvt_runtime.resample_kernels; frvt_runtime.resample
computes their tables (taps, weights, inverse matrix rows) in numpy and falls back
to its numpy loops when a config/ has no kernel module. Every buffer is declared
with 1-byte alignment: NIST's frame can start at any byte and numpy only promises
16, while TVM's default assumption of 64 lets LLVM emit aligned vector loads (a
float kernel built that way crashed on numpy's memory here).
"""

from __future__ import annotations

import time
from pathlib import Path

from tvm.script import tirx as T

# The function names the runtime looks up (frvt_runtime.resample_kernels reads the same tuple).
from frvt_runtime.resample_kernels import FUNCTIONS


@T.prim_func
def halve_rgb(a: T.handle, b: T.handle):
    """dst = (a + b + c + d + 2) >> 2 over each 2x2 block: INTER_AREA's exact halving."""
    T.func_attr({"tirx.noalias": True})
    h, w = T.int32(), T.int32()
    src = T.match_buffer(a, (h, w, 3), "uint8", align=1)
    dst = T.match_buffer(b, (h // 2, w // 2, 3), "uint8", align=1)
    # the two source rows summed first: one contiguous, vectorisable pass per output row
    vsum = T.alloc_buffer(((w // 2) * 6,), "uint16")
    for y in range(h // 2):
        for k in range((w // 2) * 6):
            vsum[k] = (T.Cast("uint16", src[2 * y, k // 3, k % 3])
                       + T.Cast("uint16", src[2 * y + 1, k // 3, k % 3]))
        for x, c in T.grid(w // 2, 3):
            dst[y, x, c] = T.Cast("uint8", (vsum[6 * x + c] + vsum[6 * x + 3 + c] + T.uint16(2)) >> T.uint16(2))


@T.prim_func
def quarter_rgb(a: T.handle, b: T.handle):
    """Two halvings in one pass (each rounded as halve_rgb's): the 2x-halved rows live only in a
    row buffer, so a large frame's first half-size copy is never written out and read back."""
    T.func_attr({"tirx.noalias": True})
    h, w = T.int32(), T.int32()
    src = T.match_buffer(a, (h, w, 3), "uint8", align=1)
    dst = T.match_buffer(b, (h // 4, w // 4, 3), "uint8", align=1)
    vsum = T.alloc_buffer(((w // 4) * 12,), "uint16")
    half = T.alloc_buffer((2, (w // 4) * 6), "uint16")
    for y in range(h // 4):
        for r in range(2):
            for k in range((w // 4) * 12):
                vsum[k] = (T.Cast("uint16", src[4 * y + 2 * r, k // 3, k % 3])
                           + T.Cast("uint16", src[4 * y + 2 * r + 1, k // 3, k % 3]))
            for x, c in T.grid((w // 4) * 2, 3):
                half[r, 3 * x + c] = (vsum[6 * x + c] + vsum[6 * x + 3 + c] + T.uint16(2)) >> T.uint16(2)
        for x, c in T.grid(w // 4, 3):
            dst[y, x, c] = T.Cast("uint8", (half[0, 6 * x + c] + half[0, 6 * x + 3 + c] + half[1, 6 * x + c]
                                            + half[1, 6 * x + 3 + c] + T.uint16(2)) >> T.uint16(2))


@T.prim_func
def area_rgb(a: T.handle, yi_: T.handle, yw_: T.handle, xi_: T.handle, xw_: T.handle,
             o: T.handle, n: T.handle):
    """INTER_AREA with per-output taps: rows first (contiguous, vectorised), then columns.

    The image and the output are taken as (rows, values per row). yi/yw: (th, ky) source
    rows and weights of each output row; xi/xw: (kx, tw * 3) for each output value, the
    index in a row of its k-th source value and its weight (zero weights pad them).
    OpenCV sums in another order (columns first): `near` marks the values within float
    error of x.5, which the caller redoes in OpenCV's order, so the result is OpenCV's
    to the bit.
    """
    T.func_attr({"tirx.noalias": True})
    h, w3, th, tw3, ky, kx = T.int32(), T.int32(), T.int32(), T.int32(), T.int32(), T.int32()
    src = T.match_buffer(a, (h, w3), "uint8", align=1)
    yi = T.match_buffer(yi_, (th, ky), "int32", align=1)
    yw = T.match_buffer(yw_, (th, ky), "float32", align=1)
    xi = T.match_buffer(xi_, (kx, tw3), "int32", align=1)
    xw = T.match_buffer(xw_, (kx, tw3), "float32", align=1)
    out = T.match_buffer(o, (th, tw3), "uint8", align=1)
    near = T.match_buffer(n, (th, tw3), "uint8", align=1)
    row = T.alloc_buffer((w3,), "float32")
    acc = T.alloc_buffer((tw3,), "float32")
    for y in range(th):
        for j in range(w3):
            row[j] = T.float32(0)
        for t in range(ky):
            for j in range(w3):
                row[j] = row[j] + yw[y, t] * T.Cast("float32", src[yi[y, t], j])
        for q in range(tw3):
            acc[q] = T.float32(0)
        for k in range(kx):
            for q in range(tw3):
                acc[q] = acc[q] + xw[k, q] * row[xi[k, q]]
        for q in range(tw3):
            r = T.nearbyint(acc[q])
            out[y, q] = T.Cast("uint8", T.max(T.min(r, T.float32(255)), T.float32(0)))
            near[y, q] = T.Cast("uint8", T.fabs(acc[q] - r) > T.float32(0.499))


# The warps take the inverse matrix, rounded to float32, as p = (a, d, b, e, c, f): source
# x = a * col + (b * row + c), y = d * col + (e * row + f), as OpenCV 4.11+ computes them: the
# row terms b * row + c and e * row + f are a float32 product and a float32 sum, each rounded
# (done in float64, where both are exact, and rounded to float32 once each: a float32 a * b + c
# here would be contracted into one fused multiply-add), then one fused multiply-add per column.
# Both interpolations are fused multiply-adds too, as OpenCV's. `out` is (th, tw, 3) in memory
# that has one spare byte after it: each pixel's 4-lane store spills one byte into the next
# pixel (rewritten right after) or, for the last one, into the spare byte.


@T.macro
def source_xy(fx, fy, p, x, y):
    """Output pixel (x, y)'s source coordinates into fx[x], fy[x] (see above)."""
    fx[x] = T.fma(p[0], T.Cast("float32", x), T.Cast("float32", T.Cast("float64", T.Cast(
        "float32", T.Cast("float64", y) * T.Cast("float64", p[2]))) + T.Cast("float64", p[4])))
    fy[x] = T.fma(p[1], T.Cast("float32", x), T.Cast("float32", T.Cast("float64", T.Cast(
        "float32", T.Cast("float64", y) * T.Cast("float64", p[3]))) + T.Cast("float64", p[5])))


@T.macro
def interpolate_row(out, g, fx, fy, y, tw):
    """Output row y from the scratch row g (each pixel's 2x2 neighbours as the 8-byte loads put
    them: top pair at 0 and 3, bottom pair at 8 and 11) and the fractions fx, fy."""
    for x in range(tw):
        for k in T.vectorized(4):  # lanes 0-2: the channels; lane 3 spills (see above)
            out[(y * tw + x) * 3 + k] = T.Cast("uint8", T.max(T.min(T.nearbyint(T.fma(
                fy[x],
                T.fma(fx[x], T.Cast("float32", g[x, 11 + k]) - T.Cast("float32", g[x, 8 + k]),
                      T.Cast("float32", g[x, 8 + k]))
                - T.fma(fx[x], T.Cast("float32", g[x, 3 + k]) - T.Cast("float32", g[x, k]),
                        T.Cast("float32", g[x, k])),
                T.fma(fx[x], T.Cast("float32", g[x, 3 + k]) - T.Cast("float32", g[x, k]),
                      T.Cast("float32", g[x, k])))), T.float32(255)), T.float32(0)))


@T.prim_func
def warp_rgb(a: T.handle, p_: T.handle, o: T.handle):
    """warpAffine (INTER_LINEAR, constant 0 border) for any matrix; neighbours outside are 0.

    Per output row: the pixels' coordinates, a gather of their four neighbours into a
    scratch row (two 8-byte loads when all four and a row below are inside, else byte by
    byte with zeros outside), then the interpolation, 4 lanes a pixel.
    """
    T.func_attr({"tirx.noalias": True})
    h, w, th, tw = T.int32(), T.int32(), T.int32(), T.int32()
    src = T.match_buffer(a, (h, w, 3), "uint8", align=1)
    p = T.match_buffer(p_, (6,), "float32", align=1)
    out3 = T.match_buffer(o, (th, tw, 3), "uint8", align=1)
    out = T.decl_buffer((th * tw * 3 + 1,), "uint8", data=out3.data)
    flat = T.decl_buffer((h * w * 3,), "uint8", data=src.data)
    ix = T.alloc_buffer((tw,), "int32")
    iy = T.alloc_buffer((tw,), "int32")
    fx = T.alloc_buffer((tw,), "float32")
    fy = T.alloc_buffer((tw,), "float32")
    g = T.alloc_buffer((tw, 16), "uint8")
    for y in range(th):
        for x in range(tw):
            source_xy(fx, fy, p, x, y)
            # Outside (-1, w) x (-1, h), NaN included, every neighbour is 0: the int casts only
            # ever see coordinates that fit (-2 is outside whatever its neighbour).
            if fx[x] > T.float32(-1) and fx[x] < T.Cast("float32", w) and fy[x] > T.float32(-1) and fy[x] < T.Cast("float32", h):
                ix[x] = T.Cast("int32", T.floor(fx[x]))
                iy[x] = T.Cast("int32", T.floor(fy[x]))
                fx[x] = fx[x] - T.floor(fx[x])
                fy[x] = fy[x] - T.floor(fy[x])
            else:
                ix[x] = -2
                iy[x] = -2
                fx[x] = T.float32(0)
                fy[x] = T.float32(0)
        for x in range(tw):
            if ix[x] >= 0 and ix[x] + 1 < w and iy[x] >= 0 and iy[x] + 2 < h:
                for k in T.vectorized(8):  # top-left, top-right (+3)
                    g[x, k] = flat[(iy[x] * w + ix[x]) * 3 + k]
                for k in T.vectorized(8):  # bottom-left, bottom-right (+3)
                    g[x, 8 + k] = flat[((iy[x] + 1) * w + ix[x]) * 3 + k]
            else:
                for dy, dx, c in T.grid(2, 2, 3):
                    g[x, dy * 8 + dx * 3 + c] = T.if_then_else(
                        ix[x] + dx >= 0 and ix[x] + dx < w and iy[x] + dy >= 0 and iy[x] + dy < h,
                        src[T.max(T.min(iy[x] + dy, h - 1), 0), T.max(T.min(ix[x] + dx, w - 1), 0), c],
                        T.uint8(0))
        interpolate_row(out, g, fx, fy, y, tw)


@T.prim_func
def warp_inside_rgb(a: T.handle, p_: T.handle, o: T.handle):
    """warp_rgb where every source point lies inside [0, w - 1) x [0, h - 2) (the caller checks the
    output's corners): no border tests, and 8 bytes from each neighbour pair stay in the image.

    Per output row: the pixels' coordinates (vectorised), two 8-byte loads per pixel into a
    scratch row (nothing waits on them, so many cache misses are in flight at once: a
    3000x4500 frame is cold after the resize), then the interpolation, 4 lanes a pixel.
    """
    T.func_attr({"tirx.noalias": True})
    h, w, th, tw = T.int32(), T.int32(), T.int32(), T.int32()
    src = T.match_buffer(a, (h, w, 3), "uint8", align=1)
    p = T.match_buffer(p_, (6,), "float32", align=1)
    out3 = T.match_buffer(o, (th, tw, 3), "uint8", align=1)
    out = T.decl_buffer((th * tw * 3 + 1,), "uint8", data=out3.data)
    flat = T.decl_buffer((h * w * 3,), "uint8", data=src.data)
    at = T.alloc_buffer((tw,), "int32")
    fx = T.alloc_buffer((tw,), "float32")
    fy = T.alloc_buffer((tw,), "float32")
    g = T.alloc_buffer((tw, 16), "uint8")
    # No let-bound values inside the vectorised loops below: TVM 0.27's vectoriser gave wrong
    # pixels with them (checked against cv2); buffers and repeated subexpressions do not.
    for y in range(th):
        for x in range(tw):
            source_xy(fx, fy, p, x, y)
            at[x] = (T.Cast("int32", T.floor(fy[x])) * w + T.Cast("int32", T.floor(fx[x]))) * 3
            fx[x] = fx[x] - T.floor(fx[x])
            fy[x] = fy[x] - T.floor(fy[x])
        for x in range(tw):
            for k in T.vectorized(8):
                g[x, k] = flat[at[x] + k]                 # top-left, top-right (+3)
            for k in T.vectorized(8):
                g[x, 8 + k] = flat[at[x] + w * 3 + k]     # bottom-left, bottom-right (+3)
        interpolate_row(out, g, fx, fy, y, tw)


KERNELS = {"halve_rgb": halve_rgb, "quarter_rgb": quarter_rgb, "area_rgb": area_rgb, "warp_rgb": warp_rgb,
           "warp_inside_rgb": warp_inside_rgb}
assert tuple(KERNELS) == FUNCTIONS, "the runtime looks up these names"


def build_resample_kernels(target, out_so: Path, log=print) -> dict:
    """Compile the kernels for target into out_so (stripped); facts for models.json."""
    import tvm

    from ..strip import strip_unneeded

    t0 = time.perf_counter()
    mod = tvm.IRModule({name: f.with_attr("global_symbol", name) for name, f in KERNELS.items()})
    lib = tvm.compile(mod, target=target)
    out_so.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_so.with_name(out_so.stem + ".part.so")
    lib.export_library(str(tmp))
    strip_unneeded([tmp], log)
    tmp.replace(out_so)
    log(f"[resample] compiled {', '.join(KERNELS)} into {out_so} in {time.perf_counter() - t0:.1f} s")
    return {"functions": list(KERNELS)}
