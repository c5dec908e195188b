"""The image input's conversion as flat kernels: the graph passes flat_image_cast and
flat_image_normalise (graph_passes.py lists the passes and why each exists)."""

from __future__ import annotations

import numpy as np

from .graph_passes import OPAQUE_PATTERN, bindings_and_users, found_calls_pass


def _flat_cast(n: int, src_dtype: str, dst_dtype: str):
    """A 1-D cast kernel of n values, opaque to FuseOps so that the reshapes around it stay
    apart (and become views). On the 4-D NHWC image the fused loop's index is split back
    into (h, w, c) per vector lane (c has extent 3) and LLVM emits scalar code: 2.2 ms for
    a 640x640 image, against 0.13 ms flat."""
    from tvm import te

    x = te.placeholder((n,), src_dtype, name="x")
    y = te.compute((n,), lambda i: x[i].astype(dst_dtype), name="flat_cast")
    return te.create_prim_func([x, y]).without_attr("global_symbol").with_attr("op_pattern", OPAQUE_PATTERN)


def flat_image_cast():
    """astype(an input of the model) -> a flat cast kernel, when only convs read the cast
    (after cancel_permutes, the detector's uint8 image): with any other consumer FuseOps
    fuses the cast into that consumer's kernel instead."""
    import tvm
    from tvm import relax

    astype = tvm.ir.Op.get("relax.astype")
    conv = tvm.ir.Op.get("relax.nn.conv2d")

    def flat_casts(func) -> dict:
        """{astype call on an input of func whose every user is a conv: that call}."""
        bound, users = bindings_and_users(func)
        return {c: c for v, c in bound.items() if isinstance(c, relax.Call) and c.op == astype
                and c.args[0] in func.params and users.get(v) and all(op == conv for op in users[v])}

    def flat(m, call):
        x, dtype = call.args[0], call.attrs.dtype
        shape = [int(d) for d in x.ty.shape]
        n = int(np.prod(shape))
        gv = m.builder_.add_func(_flat_cast(n, x.ty.dtype, dtype), "flat_cast")
        flat = m.builder_.emit(relax.op.reshape(m.visit_expr(x), [n]))
        cast = m.builder_.emit(relax.call_tir(gv, [flat], relax.TensorType([n], dtype)))
        return relax.op.reshape(cast, shape)

    return found_calls_pass(flat_casts, flat, "FlatImageCast")  # (DCE: and any kernel left unused)


_PERIOD = 24  # 8 float lanes x 3 channels: a lane of a vector holds the same channel in every row


def flat_normalise_kernel(rows: int, src_dtype: str):
    """(x - mean) * scale over a flat HxWx3 image, as [rows][24] so that element [i, j] is channel
    j % 3 whatever i (mean and scale: the 3 channels' values repeated 8 times), the 24 vectorized.
    As one 4-D kernel the channel is again worked out per lane: RetinaFace's 480x640 image took
    0.5 ms. Scheduled here, not by MetaSchedule: its tuned schedules fuse the two loops and split
    them by 16 or 32, which brings the per-lane channel back (0.87 ms for a 640x640 image, against
    0.09 ms for this one, haswell code, one Zen 4 core)."""
    from tvm import te
    from tvm.s_tir import Schedule

    from .dw_units import hand_scheduled

    x = te.placeholder((rows, _PERIOD), src_dtype, name="x")
    mean = te.placeholder((_PERIOD,), "float32", name="mean")
    scale = te.placeholder((_PERIOD,), "float32", name="scale")
    y = te.compute((rows, _PERIOD), lambda i, j: (x[i, j].astype("float32") - mean[j]) * scale[j],
                   name="flat_normalise")
    sch = Schedule(te.create_prim_func([x, mean, scale, y]))
    sch.vectorize(sch.get_loops(sch.get_sblock("flat_normalise"))[1])
    return hand_scheduled(sch.mod["main"])


def flat_image_normalise():
    """multiply(subtract(astype(an input of the model), mean), scale), either step optional, mean and
    scale constant per channel -> a flat kernel (flat_normalise_kernel), when only convs read the result
    (RetinaFace's BGR minus (104, 117, 123)); a bare cast is flat_image_cast's."""
    import tvm
    from tvm import relax

    astype, sub, mul, conv = (tvm.ir.Op.get(f"relax.{n}") for n in ("astype", "subtract", "multiply", "nn.conv2d"))

    def channel_values(expr) -> np.ndarray | None:
        """A constant's 3 per-channel float32 values (broadcast over H and W), else None."""
        if not isinstance(expr, tvm.ir.expr.Constant):
            return None
        v = expr.value.numpy()
        if v.dtype != np.float32 or v.size not in (1, 3) or (v.size == 3 and v.shape[-1] != 3):
            return None
        return np.broadcast_to(v.reshape(-1), (3,)).astype(np.float32)

    def chains(func) -> dict:
        """{the last call of an image's cast -> subtract -> multiply: (image, mean, scale)} for those
        that only convs read."""
        bound, users = bindings_and_users(func)

        def call_of(expr, op):
            value = bound.get(expr) if isinstance(expr, relax.Var) else None
            return value if isinstance(value, relax.Call) and value.op == op else None

        found = {}
        for var, ops in users.items():
            last = call_of(var, mul)
            last = call_of(var, sub) if last is None else last
            if last is None or not all(op == conv for op in ops):
                continue
            call, mean, scale = last, np.zeros(3, np.float32), np.ones(3, np.float32)
            if call.op == mul:
                scale = channel_values(call.args[1])
                below = call.args[0]
                call = call_of(below, sub)
                call = call_of(below, astype) if call is None else call
            if call is not None and call.op == sub:
                mean = channel_values(call.args[1])
                call = call_of(call.args[0], astype)
            if call is None or call.op != astype or mean is None or scale is None \
                    or str(call.attrs.dtype) != "float32" or not any(call.args[0].same_as(p) for p in func.params):
                continue
            shape = [int(d) for d in call.args[0].ty.shape]
            if shape[-1] == 3 and int(np.prod(shape)) % _PERIOD == 0:
                found[last] = (call.args[0], mean, scale)
        return found

    def flat(m, chain):
        image, mean, scale = chain
        shape = [int(d) for d in image.ty.shape]
        rows = int(np.prod(shape)) // _PERIOD
        gv = m.builder_.add_func(flat_normalise_kernel(rows, image.ty.dtype), "flat_normalise")
        x = m.builder_.emit(relax.op.reshape(m.visit_expr(image), [rows, _PERIOD]))
        y = m.builder_.emit(relax.call_tir(gv, [x, relax.const(np.tile(mean, 8)), relax.const(np.tile(scale, 8))],
                                           relax.TensorType([rows, _PERIOD], "float32")))
        return relax.op.reshape(y, shape)

    return found_calls_pass(chains, flat, "FlatImageNormalise")  # (DCE: the cast and subtract replaced)
