"""The QDQ model's convs (models/quantize.py) as integer kernels: u8 x s8 -> int32 sums, then scale.

On import (NCHW), conv2d(dequantize(quantize(x)), dequantize(q)) becomes
    xq  = uint8(clip(round(x / s) + z, 0, 255))        elementwise: fused into x's kernel
    acc = conv2d(xq, q, out_dtype=int32)                the integer sums
    y   = float32(acc - z * sum_k q[o, k]) * s * s_w[o] exact in int32, one rounding
which is what the QDQ model means (onnxruntime's reference computes it in
float, TVM in integers). A padded conv must pad xq with z, the level of 0.0,
for the sums and the correction to stay as above. When z = 0 (an input that is
never negative, e.g. after a ReLU: every padded conv of dlib's ResNet) that is
the conv's own zero padding; otherwise xq is padded with z by an op of its own
before the conv, which layout conversion leaves in NCHW between two transposes
(exact, a little slower). Layout conversion then makes the conv NHWC, and
int8_kernel_passes turns a 1x1 one into a matrix product over channels whose
weights are packed as [O/16][K/4][16][4], and a KxK one into a direct conv over
weights packed as [O/16][KH][KW][K/4][16][4], its input padded first by a
kernel of its own, so that the dot products read plain memory: the operand
layout of the dot-product instructions MetaSchedule tensorizes both with
(int8_intrin.py).
"""

from __future__ import annotations

import numpy as np

from ..errors import CompileError

LANES, DEPTH = 16, 4  # the dot-product intrinsic: 16 int32 sums, each over 4 u8 x s8 products
GEMM_NAME = "int8_pointwise"
CONV_NAME = "int8_conv"
KERNEL_NAMES = (GEMM_NAME, CONV_NAME)  # the integer kernels: tuned with the dot intrinsics, counted per build


def _const(builder_mutator, x):
    """The numpy value of a Constant, or of a Var bound to one; None otherwise."""
    import tvm
    from tvm import relax

    if isinstance(x, relax.Var):
        x = builder_mutator.lookup_binding(x)
    return x.value.numpy() if isinstance(x, tvm.ir.expr.Constant) else None


def use_int8_convs(mod):
    """Rewrite the QDQ convs as above; (module, number rewritten)."""
    import tvm
    from tvm import relax

    from .graph_passes import bound_call, rewrite_calls

    ops = {n: tvm.ir.Op.get(f"relax.{n}") for n in ("quantize", "dequantize", "nn.conv2d")}

    def replace(m, call):
        dq_x, dq_w = (bound_call(m, a, ops["dequantize"]) for a in call.args[:2])
        q_x = None if dq_x is None else bound_call(m, dq_x.args[0], ops["quantize"])
        if q_x is None or dq_w is None:
            return None
        s, z = _const(m, q_x.args[1]), _const(m, q_x.args[2])
        wq, ws, wz = (_const(m, a) for a in dq_w.args)
        if any(v is None for v in (s, z, wq, ws, wz)) or s.size != 1 or z.size != 1 \
                or wq.dtype != np.int8 or np.any(wz != 0) or z.dtype != np.uint8:
            return None
        a = call.attrs
        if a.groups != 1 or str(a.data_layout) != "NCHW":
            return None
        bb, x = m.builder_, q_x.args[0]
        s_f, z_f = float(s.reshape(())), float(z.reshape(()))
        # minimum/maximum, not clip: ConvertLayout carries a layout through those, but not clip.
        # s and z as 1x1x1x1 tensors, not scalars: a kernel's scalars are part of its tuning
        # workload, so a new calibration would leave these kernels without records.
        level = relax.op.add(relax.op.round(relax.op.divide(x, relax.const(np.full((1, 1, 1, 1), s_f, np.float32)))),
                             relax.const(np.full((1, 1, 1, 1), z_f, np.float32)))
        xq = bb.emit(relax.op.astype(relax.op.maximum(relax.op.minimum(level, relax.const(255.0, "float32")),
                                                      relax.const(0.0, "float32")), "uint8"))
        padding = [int(p) for p in a.padding]  # relax's order: top, left, bottom, right
        if any(padding) and z_f != 0:
            t, l, b, r = padding
            xq = bb.emit(relax.op.nn.pad(xq, [0, 0, 0, 0, t, b, l, r], pad_value=z_f))
            padding = [0, 0, 0, 0]
        acc = bb.emit(relax.op.nn.conv2d(xq, relax.const(wq), strides=a.strides, padding=padding,
                                         dilation=a.dilation, groups=1, data_layout="NCHW",
                                         kernel_layout="OIHW", out_dtype="int32"))
        o = wq.shape[0]
        corr = (int(z.reshape(())) * wq.reshape(o, -1).astype(np.int64).sum(axis=1)).astype(np.int32)
        scale = (np.float32(s_f) * ws.reshape(o).astype(np.float32)).astype(np.float32)
        shifted = bb.emit(relax.op.subtract(acc, relax.const(corr.reshape(1, o, 1, 1))))
        return relax.op.multiply(relax.op.astype(shifted, "float32"), relax.const(scale.reshape(1, o, 1, 1)))

    out, count = rewrite_calls(mod, ops["nn.conv2d"], replace)
    return relax.transform.DeadCodeElimination()(out), count


def packed_conv_weights(w_ohwi: np.ndarray) -> np.ndarray:
    """O x KH x KW x K int8 -> [O/16][KH][KW][K/4][16][4], zero-padded to whole blocks."""
    o, kh, kw, k = w_ohwi.shape
    ob, kb = -(-o // LANES), -(-k // DEPTH)
    w = np.zeros((ob * LANES, kh, kw, kb * DEPTH), np.int8)
    w[:o, :, :, :k] = w_ohwi
    return np.ascontiguousarray(w.reshape(ob, LANES, kh, kw, kb, DEPTH).transpose(0, 2, 3, 4, 1, 5))


def packed_weights(w_ohwi: np.ndarray) -> np.ndarray:
    """O x 1 x 1 x K int8 -> [O/16][K/4][16][4]: the 1x1 case of packed_conv_weights, its unit taps dropped."""
    p = packed_conv_weights(w_ohwi)
    return p.reshape(p.shape[0], p.shape[3], LANES, DEPTH)


def is_int8_kernel(name: str) -> bool:
    """Whether a kernel (a task or a compiled function, fused or not) is one of these integer ones."""
    return any(n in name for n in KERNEL_NAMES)


def _conv(x, wp, o_n: int, sh: int, sw: int):
    """acc[0, i, j, o] = sum over (a, b, k) of x[0, i*sh + a, j*sw + b, k] * W[o, a, b, k] (x already padded)."""
    from tvm import te

    _, h, w, k_n = (int(d) for d in x.shape)
    _, kh_n, kw_n, _, _, _ = (int(d) for d in wp.shape)
    kh, kw, k = te.reduce_axis((0, kh_n), name="kh"), te.reduce_axis((0, kw_n), name="kw"), \
        te.reduce_axis((0, k_n), name="k")
    return te.compute(
        (1, (h - kh_n) // sh + 1, (w - kw_n) // sw + 1, o_n),
        lambda n, i, j, o: te.sum(x[n, i * sh + kh, j * sw + kw, k].astype("int32")
                                  * wp[o // LANES, kh, kw, k // DEPTH, o % LANES, k % DEPTH].astype("int32"),
                                  axis=[kh, kw, k]), name=CONV_NAME)


def _gemm(x, wp, o_n: int):
    """acc[0, h, w, o] = sum_k x[0, h, w, k] * W[o, k] over the packed weights (K padded with zeros
    is read as x = 0 past K)."""
    from tvm import te, tirx

    _, h, w, k_n = (int(d) for d in x.shape)
    kp = int(wp.shape[1]) * DEPTH
    k = te.reduce_axis((0, kp), name="k")

    def xk(n, i, j, kk):
        if kp == k_n:
            return x[n, i, j, kk].astype("int32")
        return tirx.if_then_else(kk < k_n, x[n, i, j, tirx.min(kk, k_n - 1)].astype("int32"), 0)

    return te.compute((1, h, w, o_n), lambda n, i, j, o: te.sum(
        xk(n, i, j, k) * wp[o // LANES, k // DEPTH, o % LANES, k % DEPTH].astype("int32"), axis=k),
        name=GEMM_NAME)


def int8_kernel_passes() -> list:
    """conv2d(uint8 NHWC, int8 constant OHWI, out int32) -> the packed matrix product (1x1, stride 1,
    unpadded) or the padded input and the packed direct conv (any other, with a multiple of 4 input
    channels and no dilation); another stays TVM's own integer conv (exact, not tensorized)."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    from .graph_passes import mutator_pass

    conv = tvm.ir.Op.get("relax.nn.conv2d")

    @mutator
    class Int8Kernels(PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            if call.op != conv or str(call.attrs.out_dtype) != "int32":
                return call
            w = _const(self, call.args[1])
            a = call.attrs
            if w is None or w.dtype != np.int8 or str(call.args[0].ty.dtype) != "uint8":
                return call
            if str(a.data_layout) != "NHWC" or str(a.kernel_layout) != "OHWI":
                raise CompileError("an int8 conv was left in NCHW: int8 = true needs layout = \"NHWC\"")
            strides, padding = [int(v) for v in a.strides], [int(v) for v in a.padding]
            if any(int(v) != 1 for v in a.dilation):
                return call
            if w.shape[1:3] == (1, 1) and strides == [1, 1] and not any(padding):
                return self.builder_.call_te(_gemm, call.args[0], relax.const(packed_weights(w)), int(w.shape[0]),
                                             primfunc_name_hint=GEMM_NAME)
            if w.shape[3] % DEPTH:
                return call
            x = call.args[0]
            if any(padding):  # the integer 0, as the conv pads (use_int8_convs: z = 0 here)
                t, l, b, r = padding
                x = self.builder_.emit(relax.op.nn.pad(x, [0, 0, t, b, l, r, 0, 0]))
            return self.builder_.call_te(_conv, x, relax.const(packed_conv_weights(w)), int(w.shape[0]),
                                         *strides, primfunc_name_hint=CONV_NAME)

    return [mutator_pass(Int8Kernels, "Int8Kernels"), relax.transform.DeadCodeElimination()]
