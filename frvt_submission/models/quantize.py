"""Post-training int8 for a model's convolutions: calibration, and the QDQ model it gives.

A MobileNet-class recognizer spends ~95% of its multiply-adds in 1x1 convolutions
(SFace: 540 of 568 MMAC), a ResNet-class one in 3x3 convolutions (dlib's: 246 of 271
MMAC); both run near the core's fp32 peak. In int8 (unsigned activations times signed
weights, summed in int32: vpmaddubsw + vpmaddwd on AVX2 and AVX-512,
compile/int8_convs.py) one instruction pair does 4x the multiplies of an fp32 FMA per lane.
The convs quantized (quantizable_convs): ungrouped ones with constant weights, 1x1 or
KxK; a KxK one only when its input has a multiple of 4 channels (the dot products read 4
at a time: a stem reading 3 colour channels would waste a quarter of each).

The quantization is one fact, written once (quantization/<model>.json, with the rounded
weights beside it in <model>.weights.npz), and applied as a standard QDQ ONNX model:
- weights per output channel, symmetric, 7 bits (|q| <= WEIGHT_MAX): vpmaddubsw
  adds two u8 x s8 products in int16 with saturation, and 2 * 255 * 63 < 32767,
  so the integer sums are exact on every code path. They are rounded the GPTQ way
  (Frantar et al., 2022): one input (channel, tap) at a time, each rounding error pushed
  onto the inputs not yet rounded, weighted by the layer's quantized inputs on
  the calibration faces, so the conv's outputs move least;
- each conv's input per tensor, unsigned 8 bits with a zero point, over the range
  that gives the least squared quantization error on those faces' values (an input
  that is never negative, e.g. after a ReLU, gets zero point 0: a padded conv's zero
  padding is then the integer 0, which the integer kernels rely on);
- a BatchNormalization right after a quantized conv is folded into its weights
  first, so the weights quantized are the ones computed with.
On SFace and the shared sets' faces, the two choices raise the median cosine to the
fp32 embedding from 0.9964 (nearest rounding, 99.99th-percentile ranges) to 0.9981,
and the lowest from 0.985 to 0.994 (docs/measurements.md has the accuracy).
onnxruntime runs the QDQ model as the reference (parity); TVM imports it and
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
FORMAT = "int8-convs-2"  # (was "int8-pointwise-2": the same fields, 1x1 convs only)
DAMPING = 0.01  # added to the input Gram matrix's diagonal, as a share of its mean (GPTQ's value)
CLIP_STEPS = 33  # candidate ends of each activation range, from 20% to 100% of the seen extreme
RANGE_SAMPLE = 400_000  # values per conv input the range search weighs


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


def quantizable_convs(model) -> list:
    """The Conv nodes int8 computes (module docstring): ungrouped, undilated, with constant weights;
    1x1 stride-1 unpadded ones, and any other whose input has a multiple of 4 channels."""
    from onnx import helper

    const = _constants(model.graph)
    found = []
    for n in model.graph.node:
        if n.op_type != "Conv" or n.input[1] not in const:
            continue
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        w = const[n.input[1]]
        if w.ndim != 4 or a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])) \
                or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        pointwise = w.shape[2:] == (1, 1) and all(s == 1 for s in a.get("strides", [1, 1])) \
            and not any(a.get("pads", [0] * 4))
        if pointwise or w.shape[1] % 4 == 0:
            found.append(n)
    return found


def _patches(x: np.ndarray, conv, kh: int, kw: int) -> np.ndarray:
    """The rows a conv with KH x KW weights [O, C*KH*KW] multiplies them with: one per output pixel
    of x [C, H, W] (zero-padded as the conv pads), in the weights' (channel, row, column) order."""
    from onnx import helper

    a = {v.name: helper.get_attribute_value(v) for v in conv.attribute}
    sh, sw = a.get("strides", [1, 1])
    t, l, b, r = a.get("pads", [0, 0, 0, 0])
    x = np.pad(x, ((0, 0), (t, b), (l, r)))
    c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    cols = np.empty((c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    return cols.reshape(c * kh * kw, oh * ow).T


def _session(model, outputs: list[str]):
    """A one-thread onnxruntime session over model (a ModelProto) that also returns outputs."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    for name in dict.fromkeys(outputs):
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.log_severity_level = 1, 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(outputs, {sess.get_inputs()[0].name: x})


def calibrate(clean_onnx: Path, tensors, source_sha256: str, log=print) -> dict:
    """The calibration of clean_onnx's quantizable convs over tensors (the model's float inputs,
    e.g. aligned faces): each input's range, then each conv's rounded weights (module docstring)."""
    import onnx

    model = onnx.load(str(clean_onnx))
    convs = quantizable_convs(model)
    if not convs:
        raise ConfigError(f"{clean_onnx.name}: no convolution int8 can compute (it takes ungrouped convs with "
                          f"constant weights: 1x1 ones, and KxK ones on a multiple of 4 input channels): "
                          f"set int8 = false")
    tensors = list(tensors)
    if len(tensors) < 20:
        raise ConfigError(f"calibration needs at least 20 faces, found {len(tensors)}")
    names = [n.input[0] for n in convs]
    run = _session(model, names)
    rng = np.random.default_rng(0)
    seen: dict[str, list[np.ndarray]] = {n: [] for n in names}
    per_face = RANGE_SAMPLE // len(tensors) + 1
    for x in tensors:
        for name, v in zip(names, run(x)):
            v = v.ravel()
            seen[name].append(v if v.size <= per_face else rng.choice(v, per_face, replace=False))
    layers = []
    for conv in convs:
        lo, hi = _least_error_range(np.concatenate(seen[conv.input[0]]))
        layers.append({"conv": conv.name, "input": conv.input[0], "lo": lo, "hi": hi})
    cal = {"format": FORMAT, "source_sha256": source_sha256, "faces": len(tensors), "ranges": "least squared error",
           "rounding": "gptq", "damping": DAMPING, "weight_max": WEIGHT_MAX,
           "activation_levels": ACTIVATION_LEVELS, "layers": layers}
    cal["weights"] = _rounded_weights(model, cal, tensors, log)
    log(f"calibrated {len(layers)} convolutions of {clean_onnx.name} on {len(tensors)} faces")
    return cal


def _least_error_range(v: np.ndarray) -> tuple[float, float]:
    """The [lo, hi] (lo <= 0 <= hi) whose uint8 grid reproduces the values v with the least squared
    error: a wide range keeps outliers but coarsens every step, a narrow one clips them."""
    low, high = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    best = (np.inf, low, high)
    for f_lo in np.linspace(0.2, 1.0, CLIP_STEPS):
        for f_hi in np.linspace(0.2, 1.0, CLIP_STEPS):
            scale, zero = activation_step(low * f_lo, high * f_hi)
            err = float(np.mean(((np.clip(np.round(v / scale) + zero, 0, ACTIVATION_LEVELS) - zero) * scale - v) ** 2))
            if err < best[0]:
                best = (err, low * f_lo, high * f_hi)
    return best[1], best[2]


def _rounded_weights(model, cal: dict, tensors: list, log) -> dict[str, dict[str, np.ndarray]]:
    """Each conv's 7-bit weights and scales, rounded GPTQ-style, conv after conv, on the inputs the
    QDQ model with the convs before it already rounded gives it."""
    from onnx import numpy_helper

    qdq = _qdq_model(model, dict(cal, weights={}))
    inits = {i.name: i for i in qdq.graph.initializer}
    const = _constants(model.graph)
    out = {}
    for i, layer in enumerate(cal["layers"]):
        p = layer["conv"]
        conv = next(n for n in model.graph.node if n.name == p)
        w = _folded_weights(model.graph, conv, const)[0]
        kh, kw = w.shape[2:]
        w = w.reshape(w.shape[0], -1).astype(np.float64)
        run = _session(qdq, [f"{p}_x_dq"])
        gram = np.zeros((w.shape[1], w.shape[1]))
        for x in tensors:
            rows = _patches(run(x)[0][0].astype(np.float64), conv, kh, kw)
            gram += rows.T @ rows
        q, scale = _gptq(w, gram)
        out[p] = {"q": q, "scale": scale}
        inits[f"{p}_w_q"].CopyFrom(numpy_helper.from_array(q.reshape(inits[f"{p}_w_q"].dims), f"{p}_w_q"))
        inits[f"{p}_w_scale"].CopyFrom(numpy_helper.from_array(scale, f"{p}_w_scale"))
        log(f"  rounded {p} ({i + 1}/{len(cal['layers'])})")
    return out


def _gptq(w: np.ndarray, gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 [O, K], float32 scale [O]) for the float weights w [O, K], whose inputs have the Gram
    matrix gram [K, K]: each input channel rounded in turn, its error spread over the later ones
    through the inverse Gram matrix's Cholesky factor."""
    scale = channel_scales(w)
    step = scale.astype(np.float64)
    gram = gram + DAMPING * max(float(np.mean(np.diag(gram))), 1e-12) * np.eye(len(gram))
    u = np.linalg.cholesky(np.linalg.inv(gram)).T  # upper triangular
    w, q = w.copy(), np.zeros(w.shape, np.int8)
    for k in range(w.shape[1]):
        qk = np.clip(np.round(w[:, k] / step), -WEIGHT_MAX, WEIGHT_MAX)
        q[:, k] = qk
        err = (w[:, k] - qk * step) / u[k, k]
        w[:, k + 1:] -= np.outer(err, u[k, k + 1:])
    return q, scale


def weights_file(path: Path) -> Path:
    """The rounded weights' file beside a calibration file."""
    return path.with_name(f"{path.stem}.weights.npz")


def write_calibration(cal: dict, path: Path) -> None:
    """The calibration as JSON (ranges, facts) and its weights as .weights.npz, the JSON naming the
    npz's SHA-256 so one file is never read with another's weights."""
    from frvt_runtime.config_dir import sha256_of

    npz = weights_file(path)
    arrays = {f"{conv}/{k}": v for conv, d in cal["weights"].items() for k, v in d.items()}
    tmp = npz.with_name(npz.name + ".part")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    tmp.replace(npz)
    facts = {k: v for k, v in cal.items() if k != "weights"}
    facts["weights_file"], facts["weights_sha256"] = npz.name, sha256_of(npz)
    path.write_text(json.dumps(facts, indent=1) + "\n")


def read_calibration(path: Path, source_sha256: str) -> dict:
    """A calibration file and its weights, checked: this format, made for this very model."""
    from frvt_runtime.config_dir import sha256_of

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
    npz = path.with_name(str(cal.get("weights_file")))
    if npz != weights_file(path) or not npz.is_file() or sha256_of(npz) != cal.get("weights_sha256"):
        raise ConfigError(f"{path}: its weights file {weights_file(path).name} is missing or not the one it "
                          f"was written with: calibrate again")
    with np.load(npz) as arrays:
        cal["weights"] = {}
        for key in arrays.files:
            conv, _, part = key.rpartition("/")
            cal["weights"].setdefault(conv, {})[part] = arrays[key]
    return cal


def activation_step(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero point) of the uint8 grid over [lo, hi] (lo <= 0 <= hi): zero is exact on it."""
    scale = float(np.float32(max(hi - lo, 1e-8) / ACTIVATION_LEVELS))
    return scale, int(np.clip(round(-lo / scale), 0, ACTIVATION_LEVELS))


def channel_scales(w: np.ndarray) -> np.ndarray:
    """The float32 step of each output channel's weights: symmetric, the largest |w| at WEIGHT_MAX."""
    top = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    return np.where(top > 0, top / WEIGHT_MAX, 1.0).astype(np.float32)


def weight_steps(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, float32 scale per output channel), each weight rounded to its nearest step."""
    scale = channel_scales(w)
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


def _folded_weights(graph, conv, const) -> tuple[np.ndarray, np.ndarray, object]:
    """(weights, bias, the folded BatchNormalization or None) of a conv, as computed with."""
    w = const[conv.input[1]].astype(np.float32)
    b = const[conv.input[2]].astype(np.float32) if len(conv.input) > 2 and conv.input[2] else \
        np.zeros(w.shape[0], np.float32)
    return _fold_batchnorm(graph, conv, w, b, const)


def quantized_model(clean_onnx: Path, calibration: dict, out: Path) -> Path:
    """Write clean_onnx with each calibrated conv in QDQ form (see the module's docstring)."""
    import onnx

    model = onnx.load(str(clean_onnx))
    missing = [layer["conv"] for layer in calibration["layers"] if layer["conv"] not in calibration["weights"]]
    if missing:
        raise ConfigError(f"the calibration has no rounded weights for {', '.join(missing)}: calibrate again")
    model = _qdq_model(model, calibration, clean_onnx.name)
    onnx.checker.check_model(model)
    tmp = out.with_suffix(".part")
    onnx.save(model, str(tmp))
    tmp.replace(out)
    return out


def _qdq_model(model, calibration: dict, name: str = "the model"):
    """A copy of model (a ModelProto) with each calibrated conv in QDQ form; a conv that has no
    weights in calibration["weights"] gets them rounded to the nearest step."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    const = _constants(g)
    convs = {n.name: n for n in quantizable_convs(model)}
    if "" in convs or len({n.name for n in g.node if n.op_type == "Conv"}) < sum(n.op_type == "Conv" for n in g.node):
        raise ConfigError(f"{name}: its Conv nodes need unique names for int8")
    drop, before = set(), {}
    for layer in calibration["layers"]:
        conv = convs.get(layer["conv"])
        if conv is None or conv.input[0] != layer["input"]:
            raise ConfigError(f"calibration names conv {layer['conv']!r} on {layer['input']!r}, which "
                              f"{name} does not have: calibrate again")
        w, b, bn = _folded_weights(g, conv, const)
        if bn is not None:
            drop.add(bn.output[0])
            conv.output[0] = bn.output[0]
        rounded = calibration["weights"].get(conv.name)
        if rounded is None:
            wq, ws = weight_steps(w)
        elif rounded["q"].shape != (w.shape[0], w[0].size) or rounded["scale"].shape != w.shape[:1] \
                or rounded["q"].dtype != np.int8 or np.abs(rounded["q"]).max() > WEIGHT_MAX:
            raise ConfigError(f"calibration's weights for {conv.name} are not {w.shape[0]}x{w[0].size} "
                              f"int8 within +-{WEIGHT_MAX}: calibrate again")
        else:
            wq, ws = rounded["q"].reshape(w.shape), rounded["scale"].astype(np.float32)
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
        raise ConfigError(f"{name}: opset {opset}; int8 needs 13 or later (per-channel "
                          f"DequantizeLinear): convert the model or set int8 = false")
    return model


def _live(nodes: list, outputs: set[str]) -> list:
    """nodes less those whose outputs nothing reads (the weight Reshapes the QDQ form replaced)."""
    while True:
        read = outputs | {x for n in nodes for x in n.input}
        kept = [n for n in nodes if any(o in read for o in n.output)]
        if len(kept) == len(nodes):
            return kept
        nodes = kept
