"""Channels-last (NHWC) convolutions: the Relax passes that convert an NCHW model's conv layout.

ONNX models are NCHW. A 1x1 convolution is a matrix product over channels; in
NHWC its output channels are contiguous, so the tuned kernel vectorizes along
them with no tail and keeps the pixels' channel vectors in cache. In NCHW the
vector axis is the image width (14 or 7 in SFace's deep layers). Tuned alone
on this machine, SFace's 1x1 conv 512->512 at 14x14 (+bias, PReLU) took
0.544 ms in NCHW and 0.437 ms in NHWC, 160 trials each. Whole models, tuned
for their estimate to flatten: SFace 6.89 ms NCHW vs 5.01 NHWC, YuNet 5.13 vs
4.16 (tuning/README.md). Which layout wins is per model, so it is a model
setting (`layout` in frvt.toml).
"""

from __future__ import annotations

from ..config import LAYOUTS
from .graph_passes import mutator_pass


def _drop_inference_dropout():
    """Module pass: dropout(x)[0] -> x. At inference dropout is the identity, but it
    returns a tuple, which ConvertLayout cannot carry a layout through."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    dropout = tvm.ir.Op.get("relax.nn.dropout")

    @mutator
    class NoDropout(PyExprMutator):
        def visit_tuple_getitem_(self, op):
            if isinstance(op.tuple_value, relax.Var) and op.index == 0:
                bound = self.lookup_binding(op.tuple_value)
                if isinstance(bound, relax.Call) and bound.op == dropout:
                    return self.visit_expr(bound.args[0])
            return super().visit_tuple_getitem_(op)

    return mutator_pass(NoDropout, "DropInferenceDropout")


def layout_passes(layout: str) -> list:
    """Passes that give the model's conv2d ops `layout` (after BatchNorm folding and
    decomposition); ConvertLayout adds the transposes at the edges and FoldConstant
    turns the weight transposes into OHWI constants."""
    from tvm.relax import transform

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "NCHW":
        return []
    return [
        _drop_inference_dropout(),
        transform.DeadCodeElimination(),  # the dropout calls and decomposed BatchNorms' unused tuples
        transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "OHWI"]}),
        transform.FoldConstant(),
        transform.CanonicalizeBindings(),
    ]
