"""The graph pass fuse_dw_units: find each 1x1 conv -> 3x3 depthwise conv unit in a Relax function
and call the hand-written kernel (dw_units.py) for it instead (graph_passes.py lists the passes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph_passes import bindings_and_users, found_calls_pass, nhwc_conv


@dataclass
class DwUnit:
    """A unit that _dw_units found: its input x, its constants in the kernel's layouts (w1 ci x co,
    w2 3 x 3 x co), and, when x is YuNet's first layer of an image, that image and layer."""
    x: object
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    relu: bool
    pool: bool = False
    image: object = None         # the stem's image: uint8 before its cast, or float32
    w0: np.ndarray | None = None  # the stem's weights, 3 x 3 x 3 x ci
    b0: np.ndarray | None = None


def _dw_units(func) -> dict:
    """{end call: DwUnit} for every unit in func: conv2d 1x1 (+ constant bias) -> conv2d 3x3
    depthwise, stride 1, padding 1 (+ constant bias) [-> relu] [-> max_pool2d 2x2, stride 2],
    NHWC / OHWI, float32, one image, each step's result used only by the next (a map used
    elsewhere must still be written out). A unit whose x is relu(conv2d 3x3 stride 2 of a
    3-channel image (+ constant bias)) takes that layer in too, and reads the image before its
    cast to float when the cast has no other use."""
    import tvm
    from tvm import relax

    conv, add, relu, pool, astype = (tvm.ir.Op.get(f"relax.{n}")
                                     for n in ("nn.conv2d", "add", "nn.relu", "nn.max_pool2d", "astype"))
    bound, users = bindings_and_users(func)
    uses = {var: len(ops) for var, ops in users.items()}

    def ints(values) -> list[int]:
        return [int(v) for v in values]

    def call_of(var, op):  # the call of op that var (used once) is bound to
        value = bound.get(var) if isinstance(var, relax.Var) and uses.get(var) == 1 else None
        return value if isinstance(value, relax.Call) and value.op == op else None

    def vector(expr, n: int):  # a float32 constant of n values along the last axis
        if not isinstance(expr, tvm.ir.expr.Constant) or expr.value.dtype != "float32":
            return None
        a = expr.value.numpy()
        return a.reshape(n) if a.size == n and a.shape[-1] == n else None

    def image_shape(x) -> list[int]:
        return [int(d) for d in x.ty.shape] if len(x.ty.shape) == 4 else []

    def unit(end):
        """The DwUnit ending at end (a relu or add) and its interior vars, else None."""
        is_relu = end.op == relu
        bias2 = call_of(end.args[0], add) if is_relu else end
        dw = call_of(bias2.args[0], conv) if bias2 is not None else None
        bias1 = call_of(dw.args[0], add) if dw is not None and nhwc_conv(dw, 3, 1, True) else None
        pw = call_of(bias1.args[0], conv) if bias1 is not None else None
        if pw is None or not nhwc_conv(pw, 1, 1, False):
            return None
        x = pw.args[0]
        co, ci = int(pw.args[1].ty.shape[0]), int(pw.args[1].ty.shape[3])
        b1, b2 = vector(bias1.args[1], co), vector(bias2.args[1], co)
        shape = image_shape(x)
        if (b1 is None or b2 is None or x.ty.dtype != "float32" or len(shape) != 4 or shape[0] != 1
                or shape[3] != ci or int(dw.args[1].ty.shape[0]) != co):
            return None
        found = DwUnit(x, pw.args[1].value.numpy().reshape(co, ci).T,  b1,
                       dw.args[1].value.numpy().reshape(co, 3, 3).transpose(1, 2, 0), b2, is_relu)
        interior = [end.args[0], bias2.args[0], dw.args[0], bias1.args[0]][0 if is_relu else 1:]
        return found, interior + stem(found, x)

    def stem(found: DwUnit, x) -> list:
        """Take x's layer into found when it is the stem; its interior vars."""
        act = call_of(x, relu)
        bias0 = call_of(act.args[0], add) if act is not None else None
        first = call_of(bias0.args[0], conv) if bias0 is not None else None
        if first is None or not nhwc_conv(first, 3, 2, False) or int(first.args[1].ty.shape[3]) != 3:
            return []
        ci = int(first.args[1].ty.shape[0])
        b0, shape = vector(bias0.args[1], ci), image_shape(first.args[0])
        if b0 is None or not shape or shape[0] != 1 or shape[1] % 2 or shape[2] % 2 or shape[3] != 3:
            return []
        cast = call_of(first.args[0], astype)
        image = cast.args[0] if cast is not None and cast.args[0].ty.dtype == "uint8" else first.args[0]
        found.image, found.b0 = image, b0
        found.w0 = first.args[1].value.numpy().transpose(1, 2, 3, 0)
        return [x, act.args[0], bias0.args[0]] + ([first.args[0]] if image is not first.args[0] else [])

    found, covered = {}, set()
    for var, value in bound.items():
        if not isinstance(value, relax.Call) or value.op not in (relu, add, pool):
            continue
        if value.op == pool:
            a = value.attrs
            inner = call_of(value.args[0], relu)
            inner = call_of(value.args[0], add) if inner is None else inner
            if (inner is None or ints(a.pool_size) != [2, 2] or ints(a.strides) != [2, 2]
                    or ints(a.padding) != [0] * 4 or ints(a.dilation) != [1, 1] or bool(a.ceil_mode)
                    or a.layout != "NHWC" or a.out_layout != "NHWC"):
                continue
            got = unit(inner)
            if got is None or any(d % 2 for d in image_shape(got[0].x)[1:3]):
                continue
            got[0].pool = True
            covered.update([value.args[0], *got[1]])
        else:
            got = unit(value)
            if got is None:
                continue
            covered.update(got[1])
        found[var] = (value, got[0])
    return {end: u for var, (end, u) in found.items() if var not in covered}


def fuse_dw_units():
    """A pointwise + depthwise conv unit (_dw_units) -> the dw_units kernel."""
    from tvm import relax

    from .dw_units import UNIT_NAME, dw_unit

    def kernel_call(m, u: DwUnit):
        _, h, w, ci = (int(d) for d in u.x.ty.shape)
        co = u.w1.shape[1]
        key = (h, w, ci, co, u.relu, u.pool, None if u.image is None else str(u.image.ty.dtype))
        if key not in m.built:  # one kernel per shape: YuNet's 26 units have 17
            m.built[key] = m.builder_.add_func(dw_unit(*key), UNIT_NAME)
        out = [1, h // 2, w // 2, co] if u.pool else [1, h, w, co]
        if u.image is None:
            args = [m.visit_expr(u.x)]
        else:  # the image's rows flat (a view), and the stem's constants
            args = [m.builder_.emit(relax.op.reshape(m.visit_expr(u.image), [1, 2 * h, 6 * w])), u.w0, u.b0]
        args += [u.w1, u.b1, u.w2, u.b2]
        args = [relax.const(np.ascontiguousarray(a, dtype=np.float32)) if isinstance(a, np.ndarray) else a
                for a in args]
        return relax.call_tir(m.built[key], args, relax.TensorType(out, "float32"))

    return found_calls_pass(_dw_units, kernel_call, "FuseDwUnits")


def merge_shared_units():
    """Units (_dw_units) that read the same map, with the same activation and no pool or stem, ->
    one unit whose channels are theirs side by side (padded with zero channels to a multiple of
    8), then a channel slice for each.

    YuNet's heads are such units: at each scale four (class 1, object 1, box 4 and landmark 10
    channels) read the same 64-channel map. Alone, a unit of 1, 4 or 10 channels fills no vector
    register (dw_units.blocking: scalar code, about a tenth of a wide unit's speed), so the heads
    took ~1.5 ms of the 480x640 detector's 7.6 ms for 2% of its FLOPs. Merged they make one
    16-channel unit. Each channel's sums are the same products in the same order, so the outputs
    are bit for bit the separate units'."""
    from tvm import relax

    def groups(func) -> dict:
        """{end call of a unit that shares its map and activation with others: (the group's key
        (x, relu), the group [(end, unit)], the unit's place in it)}."""
        by_key = {}
        for end, u in _dw_units(func).items():
            if not u.pool and u.image is None:
                by_key.setdefault((u.x, u.relu), []).append((end, u))
        return {end: (key, group, at) for key, group in by_key.items() if len(group) > 1
                for at, (end, _) in enumerate(group)}

    def merged_unit(m, key, units):
        # Zero channels up to a multiple of 8, so that the kernel's channel blocks are vectors
        # (dw_units.blocking); no slice reads them.
        pad = -sum(u.w1.shape[1] for u in units) % 8
        w1 = np.concatenate([u.w1 for u in units] + [np.zeros((units[0].w1.shape[0], pad), np.float32)], 1)
        w2 = np.concatenate([u.w2 for u in units] + [np.zeros((3, 3, pad), np.float32)], 2)
        b1, b2 = (np.concatenate([getattr(u, b) for u in units] + [np.zeros(pad, np.float32)]) for b in ("b1", "b2"))
        co, ci = w1.shape[1], w1.shape[0]

        def const(a):
            return relax.const(np.ascontiguousarray(a, dtype=np.float32))

        nn, emit = relax.op.nn, m.builder_.emit
        y = emit(nn.conv2d(m.visit_expr(key[0]), const(w1.T.reshape(co, 1, 1, ci)), data_layout="NHWC",
                           kernel_layout="OHWI", out_layout="NHWC"))
        y = emit(relax.op.add(y, const(b1.reshape(1, 1, 1, co))))
        z = emit(nn.conv2d(y, const(w2.transpose(2, 0, 1)[..., None]), padding=(1, 1, 1, 1), groups=co,
                           data_layout="NHWC", kernel_layout="OHWI", out_layout="NHWC"))
        z = emit(relax.op.add(z, const(b2.reshape(1, 1, 1, co))))
        return emit(nn.relu(z)) if key[1] else z

    def channel_slice(m, found):
        key, group, at = found
        if key not in m.built:  # the merged unit, emitted where its first unit was
            m.built[key] = merged_unit(m, key, [u for _, u in group])
        first = sum(u.w1.shape[1] for _, u in group[:at])
        return relax.op.strided_slice(m.built[key], [3], [first], [first + group[at][1].w1.shape[1]])

    return found_calls_pass(groups, channel_slice, "MergeSharedUnits")
