"""Weights out of the compiled code: each model's constants become parameters, stored once in config/.

A model compiled for two instruction-set classes would otherwise carry its weights twice (SFace:
20 MB each). Lifted before the layout rewrite that the tuned kernels want (tvm_build.apply_records
splits it out), the weights are the same arrays for every class; the rewrite becomes the module's
own main_transform_params, which the runtime runs once when it loads the model (engine.TvmModel).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

# Smaller constants (scalars, per-channel vectors of a few lanes) stay in the code: as parameters
# they would cost a call argument each and save nothing.
MIN_ELEMENTS = 64


def lift_weights(mod, min_elements: int = MIN_ELEMENTS):
    """(module whose main takes its weights after its inputs, those weights in order). Constants of
    main's bindings with at least min_elements values become parameters; LiftTransformParams then
    moves every computation on them alone (the tuned kernels' weight pre-packing) into
    main_transform_params."""
    from tvm import relax

    main = mod["main"]
    lifted: list = []
    values: list[np.ndarray] = []

    def lift(expr):
        if type(expr).__name__ in ("GenericConst", "Constant") and hasattr(expr, "value"):
            array = expr.value.numpy()
            if array.size < min_elements:
                return expr
            var = relax.Var(f"w{len(lifted)}", expr.ty)
            lifted.append(var)
            values.append(array)
            return var
        if isinstance(expr, relax.Tuple):
            return relax.Tuple([lift(x) for x in expr.fields])
        return expr

    blocks = []
    for block in main.body.blocks:
        bindings = []
        for b in block.bindings:
            value = b.value
            if isinstance(value, relax.Call):
                value = relax.Call(value.op, [lift(x) for x in value.args], value.attrs, value.ty_args)
            else:
                value = lift(value)
            bindings.append(relax.VarBinding(b.var, value))
        blocks.append(relax.DataflowBlock(bindings) if isinstance(block, relax.DataflowBlock)
                      else relax.BindingBlock(bindings))
    body = relax.SeqExpr(blocks, lift(main.body.body))
    inputs = list(main.params)
    func = relax.Function(inputs + lifted, body, main.ret_ty, main.is_pure, main.attrs, main.span)
    mod["main"] = func.with_attr("num_input", len(inputs))
    return relax.transform.LiftTransformParams()(mod), values


def weights_file(so: Path) -> Path:
    """Where compile_model keeps a compiled model's weights: beside its .so."""
    return Path(so).with_suffix(".weights.npz")


def write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
    """arrays as an .npz at path, whole or not at all (written beside, then renamed); compressed
    (deflate) when asked: config/'s, which counts unpacked against the size goal."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
    tmp.replace(path)
    return path


def save_weights(so: Path, values: list[np.ndarray]) -> Path:
    """values as weights_file(so), keyed by position."""
    return write_npz(weights_file(so), {str(i): v for i, v in enumerate(values)})


def read_weights(so: Path) -> list[np.ndarray]:
    """A compiled model's weights in its main function's order ([] for a model without any)."""
    path = weights_file(so)
    if not path.is_file():
        return []
    with np.load(path, allow_pickle=False) as npz:
        return [npz[str(i)] for i in range(len(npz.files))]


def content_key(array: np.ndarray) -> str:
    """A weight's name in config/weights.npz: the hash of its type, shape and bytes, so equal
    weights of two paths (or two detector sizes) are stored once."""
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:24]


def compiled_model(so: Path, output_names: list[str], runtime_dir: Path | None = None):
    """A compiled model from build/ (not config/), with its weights, for the tooling and tests."""
    from frvt_runtime.engine import TvmModel

    return TvmModel(Path(so), output_names, runtime_dir, read_weights(so))
