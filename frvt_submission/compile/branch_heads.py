"""Graph pass heads_read_branches: 1x1 head convs of relu(concat(branches)) read the branches instead.

RetinaFace's SSH module ends in relu(concat(a, b, c)) over channels (32 + 16 + 16),
read only by three 1x1 head convs of 4, 8 and 20 channels. In NHWC that costs a
copy kernel for the concat and ReLU (0.54 ms at 480x640, haswell code), and three
convs whose few output channels fill no vector register (0.55 ms). A 1x1 conv of a
channel concat is the sum of 1x1 convs of its parts, so the heads become one
32-channel conv per branch, their sum added in a conv's epilogue (FuseOps picks
which), the ReLU in each branch's own conv, and a channel slice per head. The
sums are the same products added in another order: equal to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Heads:
    """One relu(concat(branches)) map and the 1x1 convs reading it."""
    branches: list      # the concat's inputs (vars), in channel order
    widths: list[int]   # their channel counts
    weights: np.ndarray  # (sum of the heads' outputs, 1, 1, sum of widths): the heads' OHWI kernels stacked
    convs: list         # the head calls, in the weights' order
    offsets: list[int]  # each head's first output channel in the stack


def find_heads(func) -> dict:
    """{head conv call: (Heads, its index)} for every relu(concat(..., axis=3)) read by 1x1 convs only,
    whose concat and branches have no other reader."""
    import tvm
    from tvm import relax

    from .graph_passes import bindings_and_users, nhwc_conv

    conv, relu, concat = (tvm.ir.Op.get(f"relax.{n}") for n in ("nn.conv2d", "nn.relu", "concat"))
    bound, users = bindings_and_users(func)
    found = {}
    for var, value in bound.items():
        if not (isinstance(value, relax.Call) and value.op == relu and isinstance(value.args[0], relax.Var)):
            continue
        cat = bound.get(value.args[0])
        if (not isinstance(cat, relax.Call) or cat.op != concat or int(cat.attrs.axis) not in (3, -1)
                or users.get(value.args[0]) != [relu] or not isinstance(cat.args[0], relax.Tuple)):
            continue
        branches = list(cat.args[0].fields)
        if not all(isinstance(b, relax.Var) and len(users.get(b, [])) == 1 for b in branches):
            continue
        readers = [(v, c) for v, c in bound.items()
                   if isinstance(c, relax.Call) and c.op == conv and c.args[0].same_as(var)]
        if not readers or len(readers) != len(users.get(var, [])) or not all(nhwc_conv(c, 1, 1, False)
                                                                              for _, c in readers):
            continue
        kernels = [c.args[1].value.numpy() for _, c in readers]
        widths = [int(b.ty.shape[3]) for b in branches]
        offsets = list(np.cumsum([0] + [k.shape[0] for k in kernels[:-1]]))
        heads = Heads(branches, widths, np.concatenate(kernels, axis=0), [c for _, c in readers], offsets)
        for i, (_, c) in enumerate(readers):
            found[c] = (heads, i)
    return found


def _build(mutator, info):
    """The head's channels of the branch-wise sum (built once per map)."""
    from tvm import relax
    from tvm.relax import op

    heads, i = info
    key = id(heads)
    if key not in mutator.built:
        emit, total, start = mutator.builder_.emit, None, 0
        for branch, width in zip(heads.branches, heads.widths):
            part = emit(op.nn.conv2d(emit(op.nn.relu(mutator.visit_expr(branch))),
                                     relax.const(np.ascontiguousarray(heads.weights[:, :, :, start:start + width])),
                                     strides=1, padding=0, data_layout="NHWC", kernel_layout="OHWI",
                                     out_layout="NHWC"))
            total = part if total is None else emit(op.add(part, total))
            start += width
        mutator.built[key] = total
    width = int(heads.convs[i].args[1].ty.shape[0])
    return op.strided_slice(mutator.built[key], [3], [int(heads.offsets[i])], [int(heads.offsets[i]) + width])


def heads_read_branches() -> list:
    """The pass (graph_passes.found_calls_pass over find_heads)."""
    from .graph_passes import found_calls_pass

    return found_calls_pass(find_heads, _build, "HeadsReadBranches")
