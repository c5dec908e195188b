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


def dense_kernel(x_shape: tuple[int, ...], o_n: int, nb: int, block: int, k: int, qdtype: str):
    """The layer as a hand-written kernel: y[0, o] = sum over blocks b of scale[b, o] *
    (sum_j x[bB + j] * q[b, j, o] - zero[b, o] * sum_j x[bB + j]), which is sum_k x[k] * (q[o, k] -
    zero) * scale with the block's zero and scale taken out of its sum: per weight one int8
    conversion and one multiply-add.

    The weights are packed blocks x B x O (_packed), so for each k one x value, broadcast,
    multiplies O contiguous weights: the O partial sums stay in vector registers, each weight
    byte is read once, in order, and x is read one scalar at a time wherever it lies: x is 1 x K,
    or 1 x H x W x C when the layer's input is the NCHW flatten of that NHWC map
    (graph_passes.dense_reads_nhwc: no transpose kernel writes the flatten first). Past K (the
    last block's zero padding) x reads 0. MetaSchedule's best schedule of the same sum, with
    weights O x blocks x B, took 0.74 ms on SFace's 128 x 50176 layer alone on a Zen 4 core
    and 1.07 ms in the model's sequence; this one 0.22 ms with the weights in cache and 0.42
    ms without (the 6.4 MB of weights streamed from memory)."""
    from tvm.script import tirx as T

    from .dw_units import hand_scheduled

    if len(x_shape) == 2:
        def xk(x, kk):
            return x[0, T.min(kk, k - 1)]
    else:
        h, w = x_shape[1], x_shape[2]

        def xk(x, kk):
            kc = T.min(kk, k - 1)
            return x[0, (kc % (h * w)) // w, kc % w, kc // (h * w)]

    @T.prim_func(s_tir=True)
    def dense(x_: T.handle, q_: T.handle, zero_: T.handle, scale_: T.handle, y_: T.handle):
        T.func_attr({"tirx.noalias": True})
        x = T.match_buffer(x_, x_shape, "float32")
        q = T.match_buffer(q_, (nb, block, o_n), qdtype)
        zero = T.match_buffer(zero_, (nb, o_n), qdtype)
        scale = T.match_buffer(scale_, (nb, o_n), "float32")
        y = T.match_buffer(y_, (1, o_n), "float32")
        with T.sblock("root"):
            part = T.sblock_alloc_buffer((o_n,), "float32", scope="local")
            acc = T.sblock_alloc_buffer((o_n,), "float32", scope="local")
            xv = T.sblock_alloc_buffer((2,), "float32", scope="local")  # x[k], and the block's sum of x
            with T.sblock("dense"):
                for o in T.vectorized(o_n):
                    acc[o] = T.float32(0)
                for b in range(nb):
                    for o in T.vectorized(o_n):
                        part[o] = T.float32(0)
                    xv[1] = T.float32(0)
                    for j in range(block):
                        xv[0] = T.if_then_else(b * block + j < k, xk(x, b * block + j), T.float32(0))
                        xv[1] = xv[1] + xv[0]
                        for o in T.vectorized(o_n):
                            part[o] = part[o] + xv[0] * T.Cast("float32", q[b, j, o])
                    for o in T.vectorized(o_n):
                        acc[o] = acc[o] + scale[b, o] * (part[o] - T.Cast("float32", zero[b, o]) * xv[1])
                for o in T.vectorized(o_n):
                    y[0, o] = acc[o]

    return hand_scheduled(dense)


def dense_call(builder, x, q, zero, scale, k: int):
    """Emit the layer's kernel (dense_kernel) on x and the packed weights (relax expressions)."""
    from tvm import relax

    x_shape = tuple(int(d) for d in x.ty.shape)
    nb, block, o_n = (int(d) for d in q.ty.shape)
    func = dense_kernel(x_shape, o_n, nb, block, k, str(q.ty.dtype))
    return relax.call_tir(builder.add_func(func, DENSE_NAME), [x, q, zero, scale],
                          relax.TensorType([1, o_n], "float32"))


def _packed(w: BlockwiseWeight) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q as blocks x B x O, the last block zero-padded; zero and scale as blocks x O)."""
    o_n, k = w.q.shape
    nb = w.scale.shape[1]
    q = np.zeros((o_n, nb * w.block), w.q.dtype)
    q[:, :k] = w.q
    return (np.ascontiguousarray(q.reshape(o_n, nb, w.block).transpose(1, 2, 0)),
            np.ascontiguousarray(w.zero.T), np.ascontiguousarray(w.scale.T))


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
                q, zero, scale = (relax.const(a) for a in _packed(w))
                return dense_call(m.builder_, call.args[0], q, zero, scale, w.q.shape[1])
        return None

    return rewrite_calls(mod, tvm.ir.Op.get("relax.matmul"), replace)
