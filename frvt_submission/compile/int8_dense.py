"""Dense layers keep the model's own blockwise int8 weights, dequantized inside the TVM kernel.

At batch 1 a dense layer reads each weight once for one multiply-add, so it is
bound by memory traffic, not arithmetic: SFace's last layer streams 25.7 MB of
fp32 weights per call (more than the convolutions' weights together, and with
them more than the L3 holds), where its int8 weights are 6.4 MB. The kernel
computes each weight as (q - zero) * scale in fp32, the arithmetic the ONNX
clean-up used (models.clean.dequantize), so the weights are the same values; a
layer is rewritten only when its fp32 constant equals that dequantization exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


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


def _dense_blockwise(x, q, zero, scale, block: int):
    from tvm import te

    k = te.reduce_axis((0, q.shape[1]), name="k")
    return te.compute(
        (x.shape[0], q.shape[0]),
        lambda i, o: te.sum(x[i, k] * ((q[o, k].astype("float32") - zero[o, k // block].astype("float32"))
                                       * scale[o, k // block]), axis=k),
        name="dense_int8_blockwise")


def use_int8_dense(mod, weights: list[BlockwiseWeight]):
    """Replace matmul(x, constant) whose constant is one of weights' dequantization (transposed);
    return (module, number of layers rewritten)."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    if not weights:
        return mod, 0
    matmul = tvm.ir.Op.get("relax.matmul")

    @mutator
    class Rewrite(PyExprMutator):
        def __init__(self, module):
            super().__init__(module)
            self.module, self.count = module, 0

        def visit_call_(self, call):
            call = super().visit_call_(call)
            if call.op != matmul or not isinstance(call.args[1], tvm.ir.expr.Constant):
                return call
            const = call.args[1].value.numpy()
            for w in weights:
                if const.shape == w.dense.T.shape and np.array_equal(const, w.dense.T):
                    self.count += 1
                    return self.builder_.call_te(_dense_blockwise, call.args[0], relax.const(w.q),
                                                 relax.const(w.zero), relax.const(w.scale), w.block,
                                                 primfunc_name_hint="dense_int8_blockwise")
            return call

        def run(self):
            for gv, func in self.module.functions_items():
                if isinstance(func, relax.Function):
                    self.builder_.update_func(gv, self.visit_expr(func))
            return self.builder_.get()

    rewrite = Rewrite(mod)
    out = rewrite.run()
    return out, rewrite.count
