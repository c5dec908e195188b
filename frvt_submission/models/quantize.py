"""Post-training int8 for a model's pointwise (1x1) convolutions: calibration, and the QDQ model it gives.

A MobileNet-class recognizer spends ~95% of its multiply-adds in 1x1 convolutions
(SFace: 540 of 568 MMAC), which run near the core's fp32 peak. In int8 (unsigned
activations times signed weights, summed in int32: vpmaddubsw + vpmaddwd on AVX2
and AVX-512, compile/int8_convs.py) one instruction pair does 4x the multiplies
of an fp32 FMA per lane.

The quantization is one fact, written once, as a standard QDQ ONNX model:
- weights per output channel, symmetric, 7 bits (|q| <= WEIGHT_MAX): vpmaddubsw
  adds two u8 x s8 products in int16 with saturation, and 2 * 255 * 63 < 32767,
  so the integer sums are exact on every code path;
- each conv's input per tensor, unsigned 8 bits with a zero point, over the
  calibration range (the PERCENTILE of the values seen on real aligned faces);
- a BatchNormalization right after a quantized conv is folded into its weights
  first, so the weights quantized are the ones computed with.
onnxruntime runs that model as the reference (parity); TVM imports it and
computes the same integer sums (compile/int8_convs.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import ConfigError

WEIGHT_MAX = 63
ACTIVATION_LEVELS = 255
PERCENTILE = 99.99  # of each conv input's values: a rare outlier must not widen every step
FORMAT = "int8-pointwise-1"


def calibration_file(original_stem: str) -> Path:
    """Where a model's calibration lives: quantization/<original model file stem>.json."""
    return paths.QUANTIZATION / f"{original_stem}.json"


def _constants(graph) -> dict[str, np.ndarray]:
    """Initializers, and Reshapes of initializers by constant shapes (how SFace holds its weights)."""
    from onnx import numpy_helper

    const = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            const[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    for n in graph.node:
        if n.op_type == "Reshape" and all(x in const for x in n.input[:2]):
            const[n.output[0]] = const[n.input[0]].reshape(const[n.input[1]])
    return const


def pointwise_convs(model) -> list:
    """The Conv nodes computing a 1x1, stride-1, unpadded, ungrouped convolution with constant weights."""
    from onnx import helper

    const = _constants(model.graph)
    found = []
    for n in model.graph.node:
        if n.op_type != "Conv" or n.input[1] not in const:
            continue
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        w = const[n.input[1]]
        if (w.ndim == 4 and w.shape[2:] == (1, 1) and a.get("group", 1) == 1
                and all(s == 1 for s in a.get("strides", [1, 1])) and not any(a.get("pads", [0] * 4))
                and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")):
            found.append(n)
    return found


def calibrate(clean_onnx: Path, tensors, source_sha256: str, log=print) -> dict:
    """Each pointwise conv's input range over tensors (the model's float inputs, e.g. aligned faces):
    the calibration file's content."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.load(str(clean_onnx))
    convs = pointwise_convs(model)
    if not convs:
        raise ConfigError(f"{clean_onnx.name}: no 1x1 convolution to compute in int8")
    names = [n.input[0] for n in convs]
    for name in dict.fromkeys(names):
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.log_severity_level = 1, 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    seen: dict[str, list[np.ndarray]] = {n: [] for n in names}
    count = 0
    for x in tensors:
        for name, v in zip(names, sess.run(names, {sess.get_inputs()[0].name: x})):
            seen[name].append(v.ravel())
        count += 1
    if count < 20:
        raise ConfigError(f"calibration needs at least 20 faces, found {count}")
    layers = []
    for conv in convs:
        v = np.concatenate(seen[conv.input[0]])
        lo, hi = np.percentile(v, [100 - PERCENTILE, PERCENTILE])
        layers.append({"conv": conv.name, "input": conv.input[0],
                       "lo": float(min(lo, 0.0)), "hi": float(max(hi, 0.0))})
    log(f"calibrated {len(layers)} 1x1 convolutions of {clean_onnx.name} on {count} faces")
    return {"format": FORMAT, "source_sha256": source_sha256, "faces": count, "percentile": PERCENTILE,
            "weight_max": WEIGHT_MAX, "activation_levels": ACTIVATION_LEVELS, "layers": layers}


def read_calibration(path: Path, source_sha256: str) -> dict:
    """A calibration file, checked: this format, made for this very model."""
    try:
        cal = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"int8 = true, but {path} does not exist: make it with "
                          f"`python -m frvt_submission calibrate` (or set int8 = false)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a calibration file ({exc})") from None
    if cal.get("format") != FORMAT:
        raise ConfigError(f"{path}: format {cal.get('format')!r}, expected {FORMAT!r}: calibrate again")
    if cal.get("source_sha256") != source_sha256:
        raise ConfigError(f"{path} was calibrated for another model (sha256 {cal.get('source_sha256')}, "
                          f"this one is {source_sha256}): calibrate again")
    return cal


def activation_step(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero point) of the uint8 grid over [lo, hi] (lo <= 0 <= hi): zero is exact on it."""
    scale = float(np.float32(max(hi - lo, 1e-8) / ACTIVATION_LEVELS))
    return scale, int(np.clip(round(-lo / scale), 0, ACTIVATION_LEVELS))


def weight_steps(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, float32 scale per output channel): symmetric, |q| <= WEIGHT_MAX."""
    top = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scale = np.where(top > 0, top / WEIGHT_MAX, 1.0).astype(np.float32)
    q = np.clip(np.round(w / scale.reshape(-1, *([1] * (w.ndim - 1)))), -WEIGHT_MAX, WEIGHT_MAX)
    return q.astype(np.int8), scale


def _fold_batchnorm(graph, conv, w: np.ndarray, b: np.ndarray, const) -> tuple[np.ndarray, np.ndarray, object]:
    """(w, b, the BatchNormalization node) with the conv's only consumer, a BatchNormalization,
    folded in; (w, b, None) when there is none."""
    from onnx import helper

    users = [n for n in graph.node if conv.output[0] in n.input]
    if len(users) != 1 or users[0].op_type != "BatchNormalization" or \
            any(o.name == conv.output[0] for o in graph.output) or not all(x in const for x in users[0].input[1:5]):
        return w, b, None
    bn = users[0]
    gamma, beta, mean, var = (const[x].astype(np.float64) for x in bn.input[1:5])
    eps = next((helper.get_attribute_value(a) for a in bn.attribute if a.name == "epsilon"), 1e-5)
    g = gamma / np.sqrt(var + eps)
    return ((w * g[:, None, None, None]).astype(np.float32), ((b - mean) * g + beta).astype(np.float32), bn)


def quantized_model(clean_onnx: Path, calibration: dict, out: Path) -> Path:
    """Write clean_onnx with each calibrated 1x1 conv in QDQ form (see the module's docstring)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(clean_onnx))
    g = model.graph
    const = _constants(g)
    convs = {n.name: n for n in pointwise_convs(model)}
    if "" in convs or len({n.name for n in g.node if n.op_type == "Conv"}) < sum(n.op_type == "Conv" for n in g.node):
        raise ConfigError(f"{clean_onnx.name}: its Conv nodes need unique names for int8")
    drop, before = set(), {}
    for layer in calibration["layers"]:
        conv = convs.get(layer["conv"])
        if conv is None or conv.input[0] != layer["input"]:
            raise ConfigError(f"calibration names conv {layer['conv']!r} on {layer['input']!r}, which "
                              f"{clean_onnx.name} does not have: calibrate again")
        w = const[conv.input[1]].astype(np.float32)
        b = const[conv.input[2]].astype(np.float32) if len(conv.input) > 2 and conv.input[2] else \
            np.zeros(w.shape[0], np.float32)
        w, b, bn = _fold_batchnorm(g, conv, w, b, const)
        if bn is not None:
            drop.add(bn.output[0])
            conv.output[0] = bn.output[0]
        wq, ws = weight_steps(w)
        sa, za = activation_step(layer["lo"], layer["hi"])
        p = conv.name
        g.initializer.extend([
            numpy_helper.from_array(np.array(sa, np.float32), f"{p}_x_scale"),
            numpy_helper.from_array(np.array(za, np.uint8), f"{p}_x_zero"),
            numpy_helper.from_array(wq, f"{p}_w_q"),
            numpy_helper.from_array(ws, f"{p}_w_scale"),
            numpy_helper.from_array(np.zeros(w.shape[0], np.int8), f"{p}_w_zero"),
            numpy_helper.from_array(b, f"{p}_bias")])
        before[conv.name] = [
            helper.make_node("QuantizeLinear", [conv.input[0], f"{p}_x_scale", f"{p}_x_zero"], [f"{p}_x_q"]),
            helper.make_node("DequantizeLinear", [f"{p}_x_q", f"{p}_x_scale", f"{p}_x_zero"], [f"{p}_x_dq"]),
            helper.make_node("DequantizeLinear", [f"{p}_w_q", f"{p}_w_scale", f"{p}_w_zero"], [f"{p}_w_dq"],
                             axis=0)]
        conv.input[:] = [f"{p}_x_dq", f"{p}_w_dq", f"{p}_bias"]
    nodes = []
    for n in g.node:  # (protobuf hands out a new wrapper per access: nodes go by name, not id)
        if not (n.op_type == "BatchNormalization" and n.output[0] in drop):
            nodes.extend((before.get(n.name, []) if n.op_type == "Conv" else []) + [n])
    del g.node[:]
    g.node.extend(_live(nodes, {o.name for o in g.output}))
    used = {x for n in g.node for x in n.input}
    kept = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise ConfigError(f"{clean_onnx.name}: opset {opset}; int8 needs 13 or later (per-channel "
                          f"DequantizeLinear): convert the model or set int8 = false")
    onnx.checker.check_model(model)
    tmp = out.with_suffix(".part")
    onnx.save(model, str(tmp))
    tmp.replace(out)
    return out


def _live(nodes: list, outputs: set[str]) -> list:
    """nodes less those whose outputs nothing reads (the weight Reshapes the QDQ form replaced)."""
    while True:
        read = outputs | {x for n in nodes for x in n.input}
        kept = [n for n in nodes if any(o in read for o in n.output)]
        if len(kept) == len(nodes):
            return kept
        nodes = kept
