"""A hand-written TVM kernel for a pointwise + depthwise conv unit (YuNet's ConvDPUnit), NHWC.

YuNet's backbone repeats one unit: a 1x1 conv (+ bias), then a 3x3 depthwise
conv (+ bias, ReLU), often then a 2x2 max pool, at 320x320 to 20x20 with 16 to
64 channels. As three kernels, each writes a map of up to 6.5 MB that the next
reads back: more than an L2 cache holds, so every map streams through L3, which
a shared host's neighbours contend for. In sequence such kernels run well below
the speed MetaSchedule measured for them alone, with their data in cache.

This kernel computes the unit row by row: the 1x1 conv's rows go into a ring
of three rows (with zero columns at both edges), each output row of the
depthwise conv reads the ring's three rows, and with the pool two such rows
give one pooled row. The intermediate maps never leave the ring (3 rows x W x
C floats: 20-124 KB). The first unit also takes in YuNet's first layer (a 3x3
stride-2 conv of the image, + ReLU) and the image's uint8 -> float cast: each
of its rows is made from three image rows just before the 1x1 conv reads it.

MetaSchedule schedules one kernel at a time and does not find such a
structure, so the loops are written out, as the resample kernels' are;
compile reports these kernels as hand-scheduled and tune leaves them out.
They pay off where the maps are large: on an AVX2 host the detector built
with them takes about 0.85x the time of the MetaSchedule-only build, the
320x320 and 160x160 pooled units gaining most, while the 80x80 64->64 units,
whose 1x1 conv is compute-bound, can be slightly slower
(docs/measurements.md). `tune --skip-pass fuse_dw_units` builds without
them, to compare on another CPU class.
"""

from __future__ import annotations

from tvm.script import tirx as T

# The kernel's name prefix (graph_passes), and the attribute that marks it hand-scheduled.
UNIT_NAME = "dw_unit"
HAND_SCHEDULED = "frvt.hand_scheduled"


def is_hand_scheduled(func) -> bool:
    """func (a PrimFunc) is one of these kernels: no tuning record schedules it, tune leaves it out."""
    return bool(func.attrs and func.attrs.get(HAND_SCHEDULED))


def hand_scheduled(func):
    """func (a PrimFunc whose loops are written out) as such a kernel: opaque to FuseOps (nothing
    is fused into it), and left alone by MetaSchedule and tune."""
    return (func.without_attr("global_symbol").with_attr("op_pattern", 8).with_attr("tirx.is_scheduled", True)
            .with_attr(HAND_SCHEDULED, True))


def _divisor(n: int, choices) -> int:
    """The first of choices that divides n (choices end with 1)."""
    return next(c for c in choices if n % c == 0)


def blocking(width: int, channels: int) -> tuple[int, int, int]:
    """(pixels per 1x1 block, pixels per depthwise block, channels per block).

    A 1x1 block keeps pixels x channels accumulators in registers: 5 x 16 floats are
    10 of AVX2's 16 vector registers (AVX-512 holds them in 5). The depthwise block
    takes 4 pixels, leaving registers for its taps. Of 2-8 pixels and 8-32 channels,
    5/4/16 ran fastest on an AVX2 host for the 320x320 16-channel and 160x160 32->64
    units; widths that none divides fall back to single pixels."""
    return _divisor(width, (5, 4, 2, 1)), _divisor(width, (4, 2, 1)), _divisor(channels, (16, 8, 1))


def dw_unit(h: int, w: int, ci: int, co: int, relu: bool, pool: bool, stem: str | None = None):
    """The unit's PrimFunc: x (1, h, w, ci), w1 (ci, co), b1 (co,), w2 (3, 3, co), b2 (co,) ->
    out (1, h, w, co), or (1, h/2, w/2, co) with the 2x2 max pool (stride 2; h and w even).

    y = x . w1 + b1; z = dwconv3x3(y, w2, zero padding 1) + b2, max(z, 0) with relu.

    stem (the image's dtype): x is computed in the kernel too, by YuNet's first layer, a 3x3
    stride-2 conv (zero padding 1) + bias + ReLU of a 3-channel image of 2h x 2w: the kernel
    takes image (1, 2h, 2w * 3) (the image's rows flat), w0 (3, 3, 3, ci) and b0 (ci,) in place
    of x, and computes x row by row from three image rows converted to float."""
    pb, db, cc = blocking(w, co)
    pb0, _, cc0 = blocking(w, ci)
    lo = 0.0 if relu else -3.0e38  # max(z, lo): ReLU, or no-op for finite z
    has_stem = stem is not None
    image_dtype = stem or "uint8"  # (both kernels are parsed; one is returned)
    oh, ow = (h // 2, w // 2) if pool else (h, w)

    @T.macro
    def bias_into(acc, bias, pixels, lanes, base):  # each pixel's accumulators start at the bias
        for p in T.unroll(pixels):
            for c in T.vectorized(lanes):
                acc[p, c] = bias[base + c]

    @T.macro
    def stem_row(image, w0, b0, rows, x, acc, r):
        # Image rows 2r - 1 .. 2r + 1 as floats, with a zero pixel before and after each row.
        for i in range(3):
            if 2 * r - 1 + i >= 0 and 2 * r - 1 + i < 2 * h:
                for q in range(6 * w):
                    rows[i, 3 + q] = T.Cast("float32", image[0, 2 * r - 1 + i, q])
            else:
                for q in range(6 * w):
                    rows[i, 3 + q] = T.float32(0)
        for wb, cb in T.grid(w // pb0, ci // cc0):
            bias_into(acc, b0, pb0, cc0, cb * cc0)
            for i, j, k in T.grid(3, 3, 3):
                for p in T.unroll(pb0):
                    for c in T.vectorized(cc0):
                        acc[p, c] = acc[p, c] + rows[i, (2 * (wb * pb0 + p) + j) * 3 + k] * w0[i, j, k, cb * cc0 + c]
            for p in T.unroll(pb0):
                for c in T.vectorized(cc0):
                    x[0, 0, wb * pb0 + p, cb * cc0 + c] = T.max(acc[p, c], T.float32(0))

    @T.macro
    def pointwise_row(x, w1, b1, ring, acc, row, slot):
        for wb, cb in T.grid(w // pb, co // cc):
            bias_into(acc, b1, pb, cc, cb * cc)
            for k in range(ci):
                for p in T.unroll(pb):
                    for c in T.vectorized(cc):
                        acc[p, c] = acc[p, c] + x[0, row, wb * pb + p, k] * w1[k, cb * cc + c]
            for p in T.unroll(pb):
                for c in T.vectorized(cc):
                    ring[slot, wb * pb + p + 1, cb * cc + c] = acc[p, c]

    @T.macro
    def depthwise_row(ring, w2, b2, acc, dst, dst_row, r):
        # Ring slot of y's row r - 1 + i is (r + 2 + i) % 3: row k lives in slot k % 3, row -1 in 2.
        for wb, cb in T.grid(w // db, co // cc):
            bias_into(acc, b2, db, cc, cb * cc)
            for i in T.unroll(3):
                for j in T.unroll(3):
                    for p in T.unroll(db):
                        for c in T.vectorized(cc):
                            acc[p, c] = acc[p, c] + (ring[(r + 2 + i) % 3, wb * db + p + j, cb * cc + c]
                                                     * w2[i, j, cb * cc + c])
            for p in T.unroll(db):
                for c in T.vectorized(cc):
                    dst[0, dst_row, wb * db + p, cb * cc + c] = T.max(acc[p, c], T.float32(lo))

    @T.macro
    def unit_rows(x, image, w0, b0, rows, acc0, w1, b1, w2, b2, out, ring, pair, acc1, acc2, with_stem):
        for s, c in T.grid(3, co):  # the zero padding columns
            ring[s, 0, c] = T.float32(0)
            ring[s, w + 1, c] = T.float32(0)
        for q, c in T.grid(w, co):  # row -1: the zero padding row
            ring[2, q + 1, c] = T.float32(0)
        if with_stem:  # x: one row, made before each pointwise row
            for i in range(3):
                for k in range(3):
                    rows[i, k] = T.float32(0)
                    rows[i, 6 * w + 3 + k] = T.float32(0)
            stem_row(image, w0, b0, rows, x, acc0, 0)
            pointwise_row(x, w1, b1, ring, acc1, 0, 0)
        else:
            pointwise_row(x, w1, b1, ring, acc1, 0, 0)
        for r in range(h):
            if r + 1 < h:
                if with_stem:
                    stem_row(image, w0, b0, rows, x, acc0, r + 1)
                    pointwise_row(x, w1, b1, ring, acc1, 0, (r + 1) % 3)
                else:
                    pointwise_row(x, w1, b1, ring, acc1, r + 1, (r + 1) % 3)
            else:  # row h: the zero padding row
                for q, c in T.grid(w, co):
                    ring[(r + 1) % 3, q + 1, c] = T.float32(0)
            if pool:
                depthwise_row(ring, w2, b2, acc2, pair, r % 2, r)
                if r % 2 == 1:
                    for q in range(ow):
                        for c in T.vectorized(co):
                            out[0, r // 2, q, c] = T.max(T.max(pair[0, 0, 2 * q, c], pair[0, 0, 2 * q + 1, c]),
                                                         T.max(pair[0, 1, 2 * q, c], pair[0, 1, 2 * q + 1, c]))
            else:
                depthwise_row(ring, w2, b2, acc2, out, r, r)

    # Each kernel: a root block (as TVM's passes over kernels expect) holding the buffers, and a
    # block inside it holding the loops (SplitLayoutRewritePreproc wants one).
    @T.prim_func(s_tir=True)
    def unit(x_: T.handle, w1_: T.handle, b1_: T.handle, w2_: T.handle, b2_: T.handle, out_: T.handle):
        T.func_attr({"tirx.noalias": True})
        x = T.match_buffer(x_, (1, h, w, ci), "float32")
        w1 = T.match_buffer(w1_, (ci, co), "float32")
        b1 = T.match_buffer(b1_, (co,), "float32")
        w2 = T.match_buffer(w2_, (3, 3, co), "float32")
        b2 = T.match_buffer(b2_, (co,), "float32")
        out = T.match_buffer(out_, (1, oh, ow, co), "float32")
        with T.sblock("root"):
            ring = T.sblock_alloc_buffer((3, w + 2, co), "float32")
            pair = T.sblock_alloc_buffer((1, 2, w, co), "float32")  # two depthwise rows before the pool
            acc1 = T.sblock_alloc_buffer((pb, cc), "float32", scope="local")
            acc2 = T.sblock_alloc_buffer((db, cc), "float32", scope="local")
            with T.sblock("unit"):
                unit_rows(x, x, x, x, x, acc1, w1, b1, w2, b2, out, ring, pair, acc1, acc2, False)

    @T.prim_func(s_tir=True)
    def stem_unit(image_: T.handle, w0_: T.handle, b0_: T.handle, w1_: T.handle, b1_: T.handle,
                  w2_: T.handle, b2_: T.handle, out_: T.handle):
        T.func_attr({"tirx.noalias": True})
        image = T.match_buffer(image_, (1, 2 * h, 6 * w), image_dtype)
        w0 = T.match_buffer(w0_, (3, 3, 3, ci), "float32")
        b0 = T.match_buffer(b0_, (ci,), "float32")
        w1 = T.match_buffer(w1_, (ci, co), "float32")
        b1 = T.match_buffer(b1_, (co,), "float32")
        w2 = T.match_buffer(w2_, (3, 3, co), "float32")
        b2 = T.match_buffer(b2_, (co,), "float32")
        out = T.match_buffer(out_, (1, oh, ow, co), "float32")
        with T.sblock("root"):
            rows = T.sblock_alloc_buffer((3, 6 * w + 6), "float32")  # three image rows, flat
            x = T.sblock_alloc_buffer((1, 1, w, ci), "float32")     # one row of the stem's output
            ring = T.sblock_alloc_buffer((3, w + 2, co), "float32")
            pair = T.sblock_alloc_buffer((1, 2, w, co), "float32")
            acc0 = T.sblock_alloc_buffer((pb0, cc0), "float32", scope="local")
            acc1 = T.sblock_alloc_buffer((pb, cc), "float32", scope="local")
            acc2 = T.sblock_alloc_buffer((db, cc), "float32", scope="local")
            with T.sblock("unit"):
                unit_rows(x, image, w0, b0, rows, acc0, w1, b1, w2, b2, out, ring, pair, acc1, acc2, True)

    return hand_scheduled(stem_unit if has_stem else unit)
