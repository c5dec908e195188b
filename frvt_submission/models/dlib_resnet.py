"""dlib's ResNet face recognizer (dlib_face_recognition_resnet_model_v1.dat) to ONNX, with numpy and onnx only.

The network is anet_type of dlib's examples/dnn_face_recognition_ex.cpp (the inference
net: the trained bn_ layers as affine_), written out below as the chain of layers dlib
nests, outermost first. How dlib serialises such a chain (dlib/dnn/core.h): each
add_layer writes its version, then its whole subnetwork, then its own parameters; tag
and skip layers write a version and their subnetwork. So the file holds the loss layer,
then every layer's version outermost first down to the input layer, then every layer's
parameters innermost first, i.e. in the order the network computes. The reader checks
each layer's kind (its version string) and shape against this definition, as dlib does.

Semantics taken from dlib's source, each checked against dlib's own output in
tests/test_dlib_resnet.py:
- input_rgb_image_sized<150>: RGB, (pixel - channel average) / 256; the averages are in
  the file and are written into the model's metadata for the settings check (the ONNX
  takes the normalised 1x3x150x150 tensor, as any vendor's model would).
- con_: cross-correlation with symmetric zero padding (stored in the file; 0 for stride 2,
  k/2 for stride 1), filters (out, in, kh, kw) then biases in one params tensor.
- affine_: per channel gamma * x + beta (params = gamma then beta).
- max_pool / avg_pool: no padding here; output size 1 + (n - window) // stride (floor).
  avg_pool_everything (window 0x0) is a global average.
- add_prev: the output takes the larger of each dimension and each operand is
  zero-padded at the end (channels, rows, columns): residual_down's 2x2-pooled shortcut
  is narrower in channels, and larger in rows/columns when the input side is even.
- fc_no_bias: x (1 x 256) times weights stored as (inputs, outputs).
- loss_metric: the fc output as it is (not L2-normalised; the pipeline normalises).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .dlib_dat import DatReader

CONVERTER_VERSION = "dlib_resnet-2"  # part of the cached conversion's stamp: bump when output bytes change


@dataclass
class Layer:
    """One entry of dlib's chain: kind, the shape facts the definition fixes, and what the file gave."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, tag, skip, fc
    args: tuple = ()  # con: (filters, kernel, stride); pools: (window, stride); tag/skip/add_prev: (id,)
    params: dict = field(default_factory=dict)


def _block(n: int, stride: int) -> list[Layer]:
    # block<N,BN,stride> = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
    return [Layer("affine"), Layer("con", (n, 3, 1)), Layer("relu"), Layer("affine"), Layer("con", (n, 3, stride))]


def _ares(n: int) -> list[Layer]:
    # relu<residual<block,N,affine>> = relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>
    return [Layer("relu"), Layer("add_prev", (1,))] + _block(n, 1) + [Layer("tag", (1,))]


def _ares_down(n: int) -> list[Layer]:
    # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>
    return ([Layer("relu"), Layer("add_prev", (2,)), Layer("avg_pool", (2, 2)), Layer("skip", (1,)),
             Layer("tag", (2,))] + _block(n, 2) + [Layer("tag", (1,))])


def anet_chain() -> list[Layer]:
    """anet_type without its loss and input layers, outermost first."""
    return ([Layer("fc", (128,)), Layer("avg_pool", (0, 1))]       # fc_no_bias<128,avg_pool_everything<
            + _ares_down(256)                                       # alevel0
            + _ares(256) + _ares(256) + _ares_down(256)             # alevel1
            + _ares(128) + _ares(128) + _ares_down(128)             # alevel2
            + _ares(64) + _ares(64) + _ares(64) + _ares_down(64)    # alevel3
            + _ares(32) + _ares(32) + _ares(32)                     # alevel4
            + [Layer("max_pool", (3, 2)), Layer("relu"), Layer("affine"), Layer("con", (32, 7, 2))])


@dataclass
class DlibNet:
    input_mean_rgb: tuple[float, float, float]
    input_size: tuple[int, int]  # rows, columns
    layers: list[Layer]  # forward order (innermost first)
    loss: dict


def _read_con(r: DatReader, layer: Layer) -> dict:
    version = r.expect("con_4", "con_5", "con_6")
    params = r.tensor().reshape(-1)
    n, kh, kw = r.int(), r.int(), r.int()
    sy, sx, py, px = r.int(), r.int(), r.int(), r.int()
    filters, biases = r.alias_tensor(), r.alias_tensor()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.float()
    use_bias = r.bool() if version in ("con_5", "con_6") else True
    use_relu = r.bool() if version == "con_6" else False
    want_n, want_k, want_s = layer.args
    if (n, kh, kw, sy, sx) != (want_n, want_k, want_k, want_s, want_s) or py != px:
        raise r.fail(f"con {n} filters {kh}x{kw} stride {sy}x{sx} padding {py}x{px}, the network "
                     f"defines {want_n} filters {want_k}x{want_k} stride {want_s}")
    size = int(np.prod(filters))
    w = params[:size].reshape(filters)
    b = params[size:size + biases[1]] if use_bias else None
    return {"weight": w, "bias": b, "stride": sy, "pad": py, "relu": use_relu}


def _read_affine(r: DatReader, layer: Layer) -> dict:
    version = r.expect("affine_", "affine_2")
    params = r.tensor().reshape(-1)
    gamma, beta = r.alias_tensor(), r.alias_tensor()
    mode = r.int()
    if version == "affine_2" and r.bool():
        raise r.fail("a disabled affine layer")
    if mode != 0:  # dlib's layer_mode: CONV_MODE = 0 (per channel), FC_MODE = 1
        raise r.fail(f"affine layer mode {mode}, expected per-channel (0)")
    k = gamma[1]
    return {"gamma": params[:k], "beta": params[k:k + beta[1]]}


def _read_pool(r: DatReader, layer: Layer) -> dict:
    r.expect({"max_pool": "max_pool_2", "avg_pool": "avg_pool_2"}[layer.kind])
    nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
    window, stride = layer.args
    if (nr, nc, sy, sx, py, px) != (window, window, stride, stride, 0, 0):
        raise r.fail(f"{layer.kind} {nr}x{nc} stride {sy}x{sx} padding {py}x{px}, the network defines "
                     f"{window}x{window} stride {stride} without padding")
    return {}


def _read_fc(r: DatReader, layer: Layer) -> dict:
    version = r.expect("fc_2", "fc_3")
    outputs, inputs = r.int(), r.int()
    params = r.tensor().reshape(-1)
    r.alias_tensor(), r.alias_tensor()  # weights (inputs x outputs at offset 0), biases (unused here)
    bias_mode = r.int()
    for _ in range(4):
        r.float()
    if version == "fc_3":
        r.bool()  # use_bias: fc_no_bias has none whatever it says
    if outputs != layer.args[0] or bias_mode != 1:  # fc_no_bias: FC_NO_BIAS = 1
        raise r.fail(f"fc with {outputs} outputs and bias mode {bias_mode}, the network defines "
                     f"fc_no_bias<{layer.args[0]}>")
    return {"weight": params[:inputs * outputs].reshape(inputs, outputs)}


def _read_relu(r: DatReader, layer: Layer) -> dict:
    if r.expect("relu_", "relu_2") == "relu_2" and r.bool():
        raise r.fail("a disabled relu layer")
    return {}


def _read_add_prev(r: DatReader, layer: Layer) -> dict:
    r.expect("add_prev_")
    return {}


READERS = {"con": _read_con, "affine": _read_affine, "max_pool": _read_pool, "avg_pool": _read_pool,
           "fc": _read_fc, "relu": _read_relu, "add_prev": _read_add_prev}


def read_net(data: bytes, name: str = ".dat") -> DlibNet:
    """Parse the .dat bytes as anet_type, in the order dlib's deserialize reads them."""
    r = DatReader(data, name)
    r.version(range(1, 2), "add_loss_layer")
    loss_version = r.expect("loss_metric_", "loss_metric_2")
    loss = {"margin": r.float(), "distance_threshold": r.float()} if loss_version == "loss_metric_2" else {}
    chain = anet_chain()
    versions = []
    for i, layer in enumerate(chain):  # outermost first: each wrapper's version, then its subnetwork
        if layer.kind in ("tag", "skip"):
            versions.append(r.version(range(1, 2), f"{layer.kind} layer"))
        elif i == len(chain) - 1:  # the add_layer whose subnetwork is the input layer
            versions.append(r.version(range(2, 4), "add_layer (over the input)"))
        else:
            versions.append(r.version(range(1, 3), "add_layer"))
    r.expect("input_rgb_image_sized")
    mean = (r.float(), r.float(), r.float())
    rows, cols = r.int(), r.int()
    for i in reversed(range(len(chain))):  # innermost first: each add_layer's own part
        layer = chain[i]
        if layer.kind in ("tag", "skip"):
            continue
        layer.params = READERS[layer.kind](r, layer)
        for _ in range(3):  # setup called, gradient stale, output/gradient disabled
            r.bool()
        r.tensor(), r.tensor()  # x_grad, cached_output
        if i == len(chain) - 1:
            r.tensor()  # grad_final
            if versions[i] >= 3:
                r.int()  # sample expansion factor
        elif versions[i] == 2:
            r.tensor()  # params_grad
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} bytes left after the network")
    return DlibNet(mean, (rows, cols), list(reversed(chain)), loss)


# Metadata the converted model carries: its input as dlib defines it, for the settings check.
INPUT_FACTS = ("input_colour", "input_size", "input_mean", "input_scale")


class _Graph:
    """The ONNX nodes and initializers being written, each tensor's (channels, rows, columns)."""

    def __init__(self):
        self.nodes, self.inits, self.shapes, self.count = [], [], {}, 0

    def const(self, array: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper

        name = f"{hint}_{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], shape: tuple[int, int, int], **attrs) -> str:
        from onnx import helper

        self.count += 1
        out = f"{op.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = shape
        return out

    def pad_to(self, x: str, shape: tuple[int, int, int]) -> str:
        """x zero-padded at the end of each dimension to shape (dlib's add of unequal tensors)."""
        have = self.shapes[x]
        if have == shape:
            return x
        ends = [0] + [want - got for want, got in zip(shape, have)]
        pads = self.const(np.array([0, 0, 0, 0] + ends, np.int64), "pads")
        return self.node("Pad", [x, pads], shape)


def _pooled(n: int, window: int, stride: int, pad: int = 0) -> int:
    return 1 + (n + 2 * pad - window) // stride


def to_onnx(net: DlibNet):
    """The ONNX model computing net's fc output from its normalised 1x3xHxW RGB input."""
    import onnx
    from onnx import TensorProto, helper

    g = _Graph()
    rows, cols = net.input_size
    x = "input"
    g.shapes[x] = (3, rows, cols)
    tags: dict[int, str] = {}
    for layer in net.layers:
        c, h, w = g.shapes[x]
        p = layer.params
        if layer.kind == "con":
            n, k, s = layer.args
            inputs = [x, g.const(p["weight"], "con_w")] + ([g.const(p["bias"], "con_b")] if p["bias"] is not None else [])
            x = g.node("Conv", inputs, (n, _pooled(h, k, s, p["pad"]), _pooled(w, k, s, p["pad"])),
                       kernel_shape=[k, k], strides=[s, s], pads=[p["pad"]] * 4)
            if p["relu"]:
                x = g.node("Relu", [x], g.shapes[x])
        elif layer.kind == "affine":  # gamma * x + beta, in dlib's order
            x = g.node("Mul", [x, g.const(p["gamma"].reshape(1, -1, 1, 1), "gamma")], (c, h, w))
            x = g.node("Add", [x, g.const(p["beta"].reshape(1, -1, 1, 1), "beta")], (c, h, w))
        elif layer.kind == "relu":
            x = g.node("Relu", [x], (c, h, w))
        elif layer.kind == "max_pool":
            k, s = layer.args
            x = g.node("MaxPool", [x], (c, _pooled(h, k, s), _pooled(w, k, s)), kernel_shape=[k, k], strides=[s, s])
        elif layer.kind == "avg_pool" and layer.args[0] == 0:  # avg_pool_everything
            x = g.node("GlobalAveragePool", [x], (c, 1, 1))
        elif layer.kind == "avg_pool":
            k, s = layer.args
            x = g.node("AveragePool", [x], (c, _pooled(h, k, s), _pooled(w, k, s)), kernel_shape=[k, k], strides=[s, s])
        elif layer.kind == "tag":
            tags[layer.args[0]] = x
        elif layer.kind == "skip":
            x = tags[layer.args[0]]
        elif layer.kind == "add_prev":
            other = tags[layer.args[0]]
            shape = tuple(max(a, b) for a, b in zip(g.shapes[x], g.shapes[other]))
            x = g.node("Add", [g.pad_to(x, shape), g.pad_to(other, shape)], shape)
        elif layer.kind == "fc":
            flat = g.node("Flatten", [x], (c * h * w, 1, 1), axis=1)
            x = g.node("MatMul", [flat, g.const(p["weight"], "fc_w")], (layer.args[0], 1, 1))
        else:
            raise AssertionError(layer.kind)
    out = helper.make_node("Identity", [x], ["embedding"], name="embedding")
    graph = helper.make_graph(
        g.nodes + [out], "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, rows, cols])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, g.shapes[x][0]])], g.inits)
    model = helper.make_model(graph, producer_name="frvt_submission." + CONVERTER_VERSION,
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # onnxruntime and TVM's importer both read IR 8 / opset 13
    facts = {"input_colour": "RGB", "input_size": f"{cols},{rows}",
             # the shortest decimals that give the same float32 (122.782, as dlib's source writes it)
             "input_mean": ",".join(str(np.float32(v)) for v in net.input_mean_rgb),
             "input_scale": ",".join([repr(1.0 / 256)] * 3)}
    for key in INPUT_FACTS:
        model.metadata_props.add(key=key, value=facts[key])
    onnx.checker.check_model(model)
    return model


def convert(dat: bytes, name: str = ".dat") -> bytes:
    """The ONNX bytes of dlib's .dat (the same bytes for the same .dat)."""
    return to_onnx(read_net(dat, name)).SerializeToString(deterministic=True)
