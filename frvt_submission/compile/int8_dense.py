"""Dense layers keep the model's own blockwise int8 weights, dequantized inside the TVM kernel.

At batch 1 a dense layer reads each weight once for one multiply-add, so it is
bound by memory traffic, not arithmetic: SFace's last layer streams 25.7 MB of
fp32 weights per call (more than the convolutions' weights together, and with
them more than the L3 holds), where its int8 weights are 6.4 MB. The kernel
computes the same sum as the ONNX clean-up's weights (models.clean.dequantize:
(q - zero) * scale in fp32) with each block's zero and scale applied to the
block's partial sums, so results differ from the fp32 layer's by summation
rounding only; a layer is rewritten only when its fp32 constant equals that
dequantization exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


DENSE_NAME = "dense_int8_blockwise"  # the kernel's name, which graph_passes.dense_reads_nhwc looks for


@dataclass
class BlockwiseWeight:
    q: np.ndarray       # O x K, int8 or uint8
    zero: np.ndarray    # O x ceil(K / block), same dtype as q
    scale: np.ndarray   # O x ceil(K / block), float32
    block: int
    dense: np.ndarray   # O x K float32: what the clean-up folded them to


def blockwise_gemm_weights(original_onnx: Path) -> list[BlockwiseWeight]:
    """The original model's Gemm weights (transB=1) that come from a blocked DequantizeLinear along K."""
    import onnx
    from onnx import helper, numpy_helper

    from ..models.clean import dequantize

    g = onnx.load(str(original_onnx)).graph
    inits = {i.name: i for i in g.initializer}
    gemm_b = {n.input[1] for n in g.node if n.op_type == "Gemm" and len(n.input) > 1
              and any(a.name == "transB" and a.i == 1 for a in n.attribute)}
    found = []
    for n in g.node:
        if n.op_type != "DequantizeLinear" or n.output[0] not in gemm_b or len(n.input) < 3:
            continue
        if not all(x in inits for x in n.input[:3]):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        q, scale, zero = (numpy_helper.to_array(inits[x]) for x in n.input[:3])
        block = int(attrs.get("block_size", 0))
        if q.ndim != 2 or q.dtype not in (np.int8, np.uint8) or block <= 0 or attrs.get("axis", 1) % 2 != 1:
            continue
        if scale.shape != (q.shape[0], -(-q.shape[1] // block)) or zero.shape != scale.shape:
            continue
        found.append(BlockwiseWeight(q, zero.astype(q.dtype), scale.astype(np.float32), block,
                                     dequantize(q, scale, zero, 1, block).astype(np.float32)))
    return found


def _dense_blockwise(x, q3, zero, scale, k: int):
    """y[i, o] = sum over blocks b of scale[o, b] * (sum_j x[i, bB + j] * q3[o, b, j] - zero[o, b] * sum_j x[i, bB + j]),
    which is sum_k x[i, k] * (q[o, k] - zero) * scale with the block's zero and scale taken out of
    its sum: per weight one int8 conversion and one multiply-add, where dequantizing each weight
    first costs two more operations and reads zero and scale through k // B.

    q3 is q as O x blocks x B, zero-padded when K is not a multiple of B (x then reads 0 there).
    x is 1 x K, or 1 x H x W x C when the layer's input is the NCHW flatten of that NHWC
    tensor: the kernel then reads x[k] where it lies (graph_passes.dense_reads_nhwc), instead
    of a transpose kernel writing the flatten first."""
    from tvm import te, tirx

    o_n, nb, block = (int(d) for d in q3.shape)

    def read(i, kk):
        if len(x.shape) == 2:
            return x[i, kk]
        h, w = int(x.shape[1]), int(x.shape[2])
        return x[i, (kk % (h * w)) // w, kk % w, kk // (h * w)]

    def xk(i, b, j):
        kk = b * block + j
        if nb * block == k:
            return read(i, kk)
        return tirx.if_then_else(kk < k, read(i, tirx.min(kk, k - 1)), tirx.const(0.0, "float32"))

    j = te.reduce_axis((0, block), name="j")
    part = te.compute((x.shape[0], o_n, nb), lambda i, o, b: te.sum(xk(i, b, j) * q3[o, b, j].astype("float32"), axis=j),
                      name="block_dot")
    j2 = te.reduce_axis((0, block), name="j2")
    xsum = te.compute((x.shape[0], nb), lambda i, b: te.sum(xk(i, b, j2), axis=j2), name="block_sum")
    b = te.reduce_axis((0, nb), name="b")
    return te.compute(
        (x.shape[0], o_n),
        lambda i, o: te.sum(scale[o, b] * (part[i, o, b] - zero[o, b].astype("float32") * xsum[i, b]), axis=b),
        name=DENSE_NAME)


def _blocks(w: BlockwiseWeight) -> np.ndarray:
    """w.q as O x blocks x B, the last block zero-padded."""
    o_n, k = w.q.shape
    nb = w.scale.shape[1]
    q = np.zeros((o_n, nb * w.block), w.q.dtype)
    q[:, :k] = w.q
    return q.reshape(o_n, nb, w.block)


def use_int8_dense(mod, weights: list[BlockwiseWeight]):
    """Replace matmul(x, constant) whose constant is one of weights' dequantization (transposed);
    return (module, number of layers rewritten)."""
    import tvm
    from tvm import relax

    from .graph_passes import rewrite_calls

    if not weights:
        return mod, 0

    def replace(m, call):
        if not isinstance(call.args[1], tvm.ir.expr.Constant):
            return None
        const = call.args[1].value.numpy()
        for w in weights:
            if const.shape == w.dense.T.shape and np.array_equal(const, w.dense.T):
                return m.builder_.call_te(_dense_blockwise, call.args[0], relax.const(_blocks(w)),
                                          relax.const(w.zero), relax.const(w.scale), w.q.shape[1],
                                          primfunc_name_hint=DENSE_NAME)
        return None

    return rewrite_calls(mod, tvm.ir.Op.get("relax.matmul"), replace)
