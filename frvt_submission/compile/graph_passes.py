"""Graph passes between the layout conversion and legalization, and which records were tuned with them.

`bgr_conv_weights` (on import, image_input.py): a BGR model whose image feeds
only convs gets their weights' channels reversed, not a reversed copy of the
image.

`cancel_permutes`: the image input's transpose to NCHW (image_input.py) is
followed by ConvertLayout's transpose back to NHWC (layout.py). The pair is the
identity, yet TVM fuses both into the detector's input kernel, which then
shuffles the whole 640x640 image every call (0.45-0.70 ms); without them that
kernel is a plain uint8 -> float cast.

`layout_leftovers`: ConvertLayout has no layout rule for LeakyReLU, so in an NHWC
build each one stayed NCHW between two transposes, and RetinaFace's nearest
resize and the add after it likewise. The pass computes them in NHWC and moves
the transposes past them, where cancel_permutes removes them: RetinaFace's
LeakyReLUs then fuse into their convs.

`flat_image_cast`: that cast as a 1-D kernel between reshapes (views at run time).

`flat_image_normalise`: the same for a cast followed by a per-channel mean and/or
scale (RetinaFace's BGR minus (104, 117, 123)), as rows of 24 values (8 lanes x 3
channels) so that every lane keeps one channel: fused as one NHWC kernel it took
0.5 ms on the 480x640 image.

`dense_reads_nhwc`: the int8 dense layer reads the NHWC feature map it flattens
in place, without a transpose kernel to NCHW first.

`output_pads_apart`: a zero pad of a conv's output (dlib's ResNet pads a strided
conv's output to its shortcut's size before adding them) becomes a kernel of its
own. Fused into the conv's kernel, MetaSchedule's tuned schedules of it computed
wrong values (tuning/README.md); apart, the conv kernel is an ordinary one.

`common_subexpressions`: a computation written twice runs once (Relax's
EliminateCommonSubexpr). RetinaFace's export computes each SSH module's
`conv5X5_1` twice, on the same map with the same weights (an Identity of them):
three convs, 8% of the 480x640 detector's FLOPs, that onnxruntime's own graph
optimiser removes too.

`heads_read_branches`: 1x1 head convs reading relu(concat(branches)) over channels
(RetinaFace's SSH outputs) become one conv per branch, summed in their epilogues,
and a channel slice per head: no concat copy kernel, and 32 output channels per
conv instead of 4, 8 and 20 (branch_heads.py).

`merge_shared_units`: units (below) that read the same map become one unit with
their channels side by side, then a channel slice each. YuNet's heads read each
scale's map four times with 1, 1, 4 and 10 channels, too few for a vector
register; as one 16-channel unit the 480x640 detector ran 5.4 ms against 6.5
(dw_unit_pass.merge_shared_units).

`fuse_dw_units`: each 1x1 conv -> 3x3 depthwise conv unit (+ ReLU, + 2x2 max
pool) becomes one hand-written kernel (dw_units.py) that keeps the maps between
them in a ring of rows; the first takes in the image's first conv and its cast
(so it runs before flat_image_cast, which then finds no cast).

No pass fuses the image conversion into the first conv by pattern
(FuseOpsByPattern): MetaSchedule finds no good schedule for such a kernel (the
detector's ran at 4.54 ms against 1.67 ms for the two apart;
docs/measurements.md). fuse_dw_units takes the detector's first conv in with
its loops written out instead.

A pass changes kernels, and records tuned without it would leave those
kernels unscheduled. So records/model.json lists the passes its records were
tuned with and compile runs exactly those (tvm_build.records_graph_passes);
`tune` uses GRAPH_PASSES, less any named by `--skip-pass` (e.g. to compare
fuse_dw_units' hand-written kernels with MetaSchedule's on another CPU class).
"""

from __future__ import annotations

import numpy as np

# The passes tune uses, in order. Records whose model.json has no "graph_passes" entry were
# tuned without any, and compile runs none for them (tvm_build.records_graph_passes).
GRAPH_PASSES = ("bgr_conv_weights", "layout_leftovers", "cancel_permutes", "common_subexpressions",
                "heads_read_branches", "merge_shared_units", "fuse_dw_units", "flat_image_cast",
                "flat_image_normalise", "dense_reads_nhwc", "output_pads_apart")


def mutator_pass(mutator_class, name: str):
    """A module pass running a relax PyExprMutator class over every Relax function."""
    import tvm

    @tvm.ir.transform.module_pass(opt_level=0, name=name)
    def run(mod, _ctx):
        return rewrite_module(mutator_class(mod), mod)

    return run


def rewrite_module(mutator, mod):
    """mod with mutator (a relax PyExprMutator built over mod) run over every Relax function."""
    from tvm import relax

    for gv, func in mod.functions_items():
        if isinstance(func, relax.Function):
            mutator.builder_.update_func(gv, mutator.visit_expr(func))
    return mutator.builder_.get()


def rewrite_calls(mod, op, replace):
    """(mod with each call of op that replace(mutator, call) gives an expression for replaced by it,
    how many were). replace returns None to keep a call; mutator.builder_ emits helper bindings."""
    from tvm.relax.expr_functor import PyExprMutator, mutator

    @mutator
    class Rewrite(PyExprMutator):
        def __init__(self, module):
            super().__init__(module)
            self.count = 0

        def visit_call_(self, call):
            call = super().visit_call_(call)
            new = replace(self, call) if call.op == op else None
            self.count += new is not None
            return call if new is None else new

    rewrite = Rewrite(mod)
    return rewrite_module(rewrite, mod), rewrite.count


def bound_call(mutator, expr, op):
    """The call of op that expr (a dataflow var) is bound to in mutator's function, else None."""
    from tvm import relax

    value = mutator.lookup_binding(expr) if isinstance(expr, relax.Var) else None
    return value if isinstance(value, relax.Call) and value.op == op else None


def _cancel_permutes():
    """permute_dims(permute_dims(x, a), b) -> x when the two cancel, else one permute_dims."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    permute = tvm.ir.Op.get("relax.permute_dims")

    @mutator
    class Cancel(PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            if call.op != permute or call.attrs.axes is None:
                return call
            inner = bound_call(self, call.args[0], permute)
            if inner is None or inner.attrs.axes is None:
                return call
            first = [int(i) for i in inner.attrs.axes]
            both = [first[int(i)] for i in call.attrs.axes]
            if both == list(range(len(both))):
                return inner.args[0]
            return relax.op.permute_dims(inner.args[0], both)

    # The cancelled pair leaves an alias binding (y = x) and an unused transpose behind.
    return [mutator_pass(Cancel, "CancelPermutes"), relax.transform.CanonicalizeBindings(),
            relax.transform.DeadCodeElimination()]


def bindings_and_users(func) -> tuple[dict, dict]:
    """({var: its bound value}, {var: the op of each call using it directly as an argument, None
    for any other use: inside a tuple, a non-call binding, func's result}) over func's bindings."""
    from tvm import relax

    bound, users = {}, {}
    for block in func.body.blocks:
        for binding in block.bindings:
            value = bound[binding.var] = binding.value
            parts = value.args if isinstance(value, relax.Call) else [value]
            for part in parts:
                op = value.op if isinstance(value, relax.Call) and isinstance(part, relax.Var) else None
                for var in relax.analysis.used_vars(part):
                    users.setdefault(var, []).append(op)
    for var in relax.analysis.used_vars(func.body.body):
        users.setdefault(var, []).append(None)
    return bound, users


def nhwc_conv(call, k: int, stride: int, groups_is_channels: bool) -> bool:
    """call (a conv2d) is of a float32 NHWC map with a constant k x k OHWI kernel, padded to keep
    the size at stride 1; depthwise (one input channel per group) or plain."""
    import tvm

    a, weight = call.attrs, call.args[1]
    shape = [int(d) for d in weight.ty.shape] if isinstance(weight, tvm.ir.expr.Constant) else []
    return (len(shape) == 4 and shape[1:3] == [k, k] and weight.value.dtype == "float32"
            and a.data_layout == "NHWC" and a.kernel_layout == "OHWI" and a.out_layout == "NHWC"
            and [int(v) for v in a.strides] == [stride, stride] and [int(v) for v in a.dilation] == [1, 1]
            and [int(v) for v in a.padding] == [k // 2] * 4
            and int(a.groups) == (shape[0] if groups_is_channels else 1)
            and (shape[3] == 1 if groups_is_channels else True))


def found_calls_pass(find, build, name: str) -> list:
    """Passes rewriting calls found beforehand: find(func) gives {call: info} for every Relax
    function of the module as it is, and each such call becomes build(mutator, info) (the mutator's
    builder_ emits helper bindings; its dict `built` keeps what is built once per module: a kernel
    per shape, a merged unit); then the bindings left unused are dropped."""
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    @mutator
    class Replace(PyExprMutator):
        def __init__(self, mod):
            super().__init__(mod)
            self.found, self.built = {}, {}
            for _, f in mod.functions_items():
                if isinstance(f, relax.Function):
                    self.found.update(find(f))

        def visit_call_(self, call):
            info = next((v for c, v in self.found.items() if call.same_as(c)), None)
            return super().visit_call_(call) if info is None else build(self, info)

    return [mutator_pass(Replace, name), relax.transform.DeadCodeElimination()]


def _layout_leftovers():
    """leakyrelu(permute_dims(x, p)) -> permute_dims(leakyrelu(x), p), and likewise for an add of two
    maps permuted alike and for a resize2d of an NHWC map permuted to NCHW (computed in NHWC): the
    permute moves past the op, where cancel_permutes meets its inverse."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    permute, leaky, add, resize = (tvm.ir.Op.get(f"relax.{n}")
                                   for n in ("permute_dims", "nn.leakyrelu", "add", "image.resize2d"))
    to_nchw = [0, 3, 1, 2]

    def axes(call) -> list[int] | None:
        return None if call is None or call.attrs.axes is None else [int(i) for i in call.attrs.axes]

    @mutator
    class Sink(PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            args = [bound_call(self, a, permute) for a in call.args[:2]]
            if call.op == leaky and axes(args[0]) is not None:
                inner = relax.op.nn.leakyrelu(args[0].args[0], float(call.attrs.alpha))
            elif call.op == add and axes(args[0]) is not None and axes(args[0]) == axes(args[1]) \
                    and list(args[0].args[0].ty.shape) == list(args[1].args[0].ty.shape):
                inner = relax.op.add(args[0].args[0], args[1].args[0])
            elif call.op == resize and axes(args[0]) == to_nchw and str(call.attrs.layout) == "NCHW":
                a = call.attrs
                inner = relax.op.image.resize2d(
                    args[0].args[0], call.args[1], [float(v) for v in a.roi], layout="NHWC", method=a.method,
                    coordinate_transformation_mode=a.coordinate_transformation_mode,
                    rounding_method=a.rounding_method, cubic_alpha=float(a.cubic_alpha),
                    cubic_exclude=int(a.cubic_exclude), extrapolation_value=float(a.extrapolation_value),
                    out_dtype=a.out_dtype if str(a.out_dtype) else None)
            else:
                return call
            return relax.op.permute_dims(self.builder_.emit(inner), axes(args[0]))

    return [mutator_pass(Sink, "LayoutLeftovers"), relax.transform.DeadCodeElimination()]


# TVM's op pattern kinds (relax/op_attr_types): an opaque kernel is fused with nothing.
OPAQUE_PATTERN = 8


def _flat_image_cast():
    """flat_image_cast (image_kernels.py), imported when asked for."""
    from .image_kernels import flat_image_cast

    return flat_image_cast()


def _flat_image_normalise():
    """flat_image_normalise (image_kernels.py), imported when asked for."""
    from .image_kernels import flat_image_normalise

    return flat_image_normalise()


def _dense_reads_nhwc():
    """dense_int8_blockwise(reshape(permute_dims(y, NHWC -> NCHW), 1 x K)) -> the same kernel reading y
    (int8_dense.dense_kernel). After the NHWC conversion, SFace would otherwise flatten its last
    feature map through a transpose kernel of its own (7x7x1024: about 0.2 ms a call)."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    from .int8_dense import DENSE_NAME, dense_call

    call_tir, permute, reshape = (tvm.ir.Op.get(f"relax.{n}") for n in ("call_tir", "permute_dims", "reshape"))

    @mutator
    class Reads(PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            if (call.op != call_tir or not call.args[0].name_hint.startswith(DENSE_NAME)
                    or not isinstance(call.args[1], relax.Tuple)):
                return call
            x, q3, zero, scale = call.args[1].fields
            flat = bound_call(self, x, reshape)
            perm = None if flat is None else bound_call(self, flat.args[0], permute)
            if perm is None or perm.attrs.axes is None or [int(a) for a in perm.attrs.axes] != [0, 3, 1, 2]:
                return call
            y = perm.args[0]
            k = int(np.prod([int(d) for d in list(y.ty.shape)[1:]]))
            if int(y.ty.shape[0]) != 1 or [int(d) for d in x.ty.shape] != [1, k]:  # one image, whole map
                return call
            return dense_call(self.builder_, y, q3, zero, scale, k)

    return [mutator_pass(Reads, "DenseReadsNHWC"), relax.transform.DeadCodeElimination()]


def _output_pads_apart():
    """call_tir(pad*, y) where y is a conv2d's output (through its per-channel adds and
    multiplies, or a ReLU) -> the same pad as an opaque kernel, which FuseOps leaves alone."""
    import tvm
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    call_tir, conv = tvm.ir.Op.get("relax.call_tir"), tvm.ir.Op.get("relax.nn.conv2d")
    epilogue = {tvm.ir.Op.get(f"relax.{n}") for n in ("add", "multiply", "nn.relu")}

    @mutator
    class Apart(PyExprMutator):
        def __init__(self, mod):
            super().__init__(mod)
            self.mod, self.opaque = mod, {}

        def of_conv(self, x) -> bool:
            value = self.lookup_binding(x) if isinstance(x, relax.Var) else None
            while isinstance(value, relax.Call) and value.op in epilogue:
                x = value.args[0]
                value = self.lookup_binding(x) if isinstance(x, relax.Var) else None
            return isinstance(value, relax.Call) and value.op == conv

        def visit_call_(self, call):
            call = super().visit_call_(call)
            if (call.op != call_tir or not call.args[0].name_hint.startswith("pad")
                    or not isinstance(call.args[1], relax.Tuple) or len(call.args[1].fields) != 1
                    or not self.of_conv(call.args[1].fields[0])):
                return call
            name = call.args[0].name_hint
            if name not in self.opaque:
                func = self.mod[call.args[0]].with_attr("op_pattern", OPAQUE_PATTERN)
                self.opaque[name] = self.builder_.add_func(func, name + "_apart")
            return relax.call_tir(self.opaque[name], call.args[1], call.ty_args[0])

    return [mutator_pass(Apart, "OutputPadsApart"), relax.transform.DeadCodeElimination()]


def _common_subexpressions():
    """common_subexpressions: Relax's own pass, then the dead bindings it leaves dropped."""
    from tvm import relax

    return [relax.transform.EliminateCommonSubexpr(), relax.transform.DeadCodeElimination()]


def _heads_read_branches():
    """heads_read_branches (branch_heads.py), imported when asked for."""
    from .branch_heads import heads_read_branches

    return heads_read_branches()


def _merge_shared_units():
    """merge_shared_units (dw_unit_pass.py), imported when asked for."""
    from .dw_unit_pass import merge_shared_units

    return merge_shared_units()


def _fuse_dw_units():
    """fuse_dw_units (dw_unit_pass.py), imported when asked for."""
    from .dw_unit_pass import fuse_dw_units

    return fuse_dw_units()


# bgr_conv_weights is applied to the ONNX graph on import (image_input.with_image_input:
# the first convs' weights reversed instead of the image's channels); no Relax pass.
_PASSES = {"bgr_conv_weights": list, "layout_leftovers": _layout_leftovers, "cancel_permutes": _cancel_permutes,
           "flat_image_cast": _flat_image_cast, "flat_image_normalise": _flat_image_normalise,
           "dense_reads_nhwc": _dense_reads_nhwc, "fuse_dw_units": _fuse_dw_units,
           "merge_shared_units": _merge_shared_units, "common_subexpressions": _common_subexpressions,
           "output_pads_apart": _output_pads_apart, "heads_read_branches": _heads_read_branches}


def check_names(names) -> None:
    """ValueError when a name is no graph pass of this version."""
    unknown = [n for n in names if n not in _PASSES]
    if unknown:
        raise ValueError(f"unknown graph pass(es) {unknown}; known: {sorted(_PASSES)}")


def graph_passes(names) -> list:
    """The Relax passes for the named graph passes, in order (run after the layout conversion)."""
    check_names(names)
    return [p for n in names for p in _PASSES[n]()]
