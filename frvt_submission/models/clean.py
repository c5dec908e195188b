"""ONNX clean-up: fold (block-)quantized constant weights to fp32, drop initializers listed as inputs, drop empty Resize inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, version_converter

from frvt_runtime.errors import ConfigError


def dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None,
               axis: int, block_size: int) -> np.ndarray:
    """DequantizeLinear semantics (per-tensor, per-axis or blocked) on constants."""
    q = q.astype(np.float32)
    zero = np.zeros_like(scale) if zero is None else zero.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.size == 1:
        return (q - zero.reshape(())) * scale.reshape(())
    axis = axis % q.ndim
    if block_size > 0:
        # Blocked: scale has the same rank, with the axis dimension ceil(n / block).
        scale = np.repeat(scale, block_size, axis=axis)
        zero = np.repeat(zero, block_size, axis=axis)
        idx = [slice(None)] * q.ndim
        idx[axis] = slice(0, q.shape[axis])
        scale, zero = scale[tuple(idx)], zero[tuple(idx)]
        return (q - zero) * scale
    shape = [1] * q.ndim
    shape[axis] = -1
    return (q - zero.reshape(shape)) * scale.reshape(shape)


def fold_constant_dequantize(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Replace DequantizeLinear nodes whose inputs are all initializers by fp32 initializers."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    keep, folded, consumed = [], [], set()
    for node in g.node:
        if node.op_type == "DequantizeLinear" and all(x in inits for x in node.input if x):
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            arrs = [numpy_helper.to_array(inits[x]) if x else None for x in node.input]
            while len(arrs) < 3:
                arrs.append(None)
            w = dequantize(arrs[0], arrs[1], arrs[2], attrs.get("axis", 1), attrs.get("block_size", 0))
            folded.append(numpy_helper.from_array(w.astype(np.float32), node.output[0]))
            consumed.update(x for x in node.input if x)
        else:
            keep.append(node)
    still_used = {x for n in keep for x in n.input} | {o.name for o in g.output}
    new_inits = [i for i in g.initializer if i.name not in consumed or i.name in still_used]
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(new_inits + folded)
    return model, len(folded)


def drop_initializer_inputs(model: onnx.ModelProto) -> int:
    """Remove graph inputs that are initializers (runtimes then treat weights as feeds) or
    that no node consumes (left behind when weights were re-expressed as dequantize chains)."""
    g = model.graph
    names = {i.name for i in g.initializer}
    consumed = {x for n in g.node for x in n.input}
    real = [i for i in g.input if i.name not in names and i.name in consumed]
    dropped = len(g.input) - len(real)
    del g.input[:]
    g.input.extend(real)
    return dropped


def drop_unused_initializers(model: onnx.ModelProto) -> int:
    g = model.graph
    used = {x for n in g.node for x in n.input} | {o.name for o in g.output}
    keep = [i for i in g.initializer if i.name in used]
    dropped = len(g.initializer) - len(keep)
    del g.initializer[:]
    g.initializer.extend(keep)
    return dropped


# Resize takes roi and scales as optional inputs from this opset on (required, possibly empty, before).
RESIZE_OPTIONAL_FROM = 13


def _empty_tensors(g: onnx.GraphProto) -> set[str]:
    """Names of the 0-element constant tensors (Constant nodes or initializers)."""
    empty = {i.name for i in g.initializer if 0 in i.dims}
    for n in g.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value" \
                and numpy_helper.to_array(n.attribute[0].t).size == 0:
            empty.add(n.output[0])
    return empty


def drop_empty_resize_inputs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Resize nodes given both `sizes` and empty roi/scales (PyTorch's opset-11 export): the empty
    inputs dropped, which TVM's importer needs ("Only one of scales and sizes can be provided").
    A model below opset 13, where those inputs are required, is converted to opset 13 first."""
    def targets(g):
        empty = _empty_tensors(g)
        return [n for n in g.node if n.op_type == "Resize" and len(n.input) == 4 and n.input[3]
                and any(x in empty for x in n.input[1:3])], empty

    found, _ = targets(model.graph)
    if not found:
        return model, 0
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < RESIZE_OPTIONAL_FROM:
        model = version_converter.convert_version(model, RESIZE_OPTIONAL_FROM)
    found, empty = targets(model.graph)
    for n in found:
        for i in (1, 2):
            if n.input[i] in empty:
                n.input[i] = ""
    used = {x for n in model.graph.node for x in n.input} | {o.name for o in model.graph.output}
    keep = [n for n in model.graph.node if n.op_type != "Constant" or n.output[0] in used]
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return model, len(found)


def clean_model(src: Path, dst: Path) -> dict:
    """Write a fp32, runtime-friendly copy of src to dst; return what was changed."""
    try:
        model = onnx.load(str(src))
    except Exception as exc:  # onnx raises DecodeError/ValueError variants
        raise ConfigError(f"{src}: not a readable ONNX model ({exc})") from None
    model, n_folded = fold_constant_dequantize(model)
    n_inputs = drop_initializer_inputs(model)
    n_unused = drop_unused_initializers(model)
    model, n_resize = drop_empty_resize_inputs(model)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ConfigError(f"{src}: cleaned model fails the ONNX checker: {exc}") from None
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".part")
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    return {"folded_dequantize": n_folded, "dropped_inputs": n_inputs, "dropped_unused": n_unused,
            "resize_inputs_dropped": n_resize}
