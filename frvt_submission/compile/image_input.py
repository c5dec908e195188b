"""Put a model's input conversion (colour order, mean/scale, NCHW float) inside its graph, ahead of the network.

The compiled model then takes the pipeline's uint8 HxWx3 RGB image as it is:
TVM fuses the conversion into one kernel over 1 byte per value, where numpy
wrote a float tensor that the model then read again. A BGR model's first
convolutions get their weights' channels reversed instead of a reversed copy
of the image (reference.to_tensor is
the numpy version, used for the peers; parity checks that the two agree).
"""

from __future__ import annotations

import numpy as np

IMAGE_INPUT = "image"  # name of the compiled graph's input: uint8 1xHxWx3, RGB


def _reverse_conv_channels(graph, tensor, const) -> bool:
    """When every consumer of `tensor` is a plain (group 1) conv, give each one its weights
    with the input channels reversed (a Slice on the weights, which constant folding removes
    from a compiled model) and return True: the convs then read RGB where the model wants BGR.
    Each product is unchanged; only the order of the 3-term channel sum flips. Otherwise the
    reversal is one more pass over the image per call."""
    from onnx import helper

    users = [n for n in graph.node if tensor in n.input]
    for n in users:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type != "Conv" or list(n.input).index(tensor) != 0 or attrs.get("group", 1) != 1 or len(n.input) < 2:
            return False
    if not users:
        return False
    bounds = [const("first", [-1], np.int64), const("last", [-4], np.int64), const("weight_axis", [1], np.int64),
              const("step", [-1], np.int64)]
    ordered = []
    for n in graph.node:  # each Slice right before its conv: after whatever computes the weights
        if n in users:
            reversed_w = f"{IMAGE_INPUT}_rgb_weights{len(ordered)}"
            ordered.append(helper.make_node("Slice", [n.input[1]] + bounds, [reversed_w]))
            n.input[1] = reversed_w
        ordered.append(n)
    del graph.node[:]
    graph.node.extend(ordered)
    return True


def with_image_input(model, colour: str, mean, scale, size: tuple[int, int], bgr_weights: bool = True):
    """A copy of an ONNX model with one 1x3xHxW float input, fed from IMAGE_INPUT instead.
    bgr_weights: reverse a BGR model's first conv weights where possible (else slice the image)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    tensor_in = g.input[0].name
    w, h = size
    nodes, t = [], IMAGE_INPUT

    def const(name, values, dtype):
        g.initializer.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), f"{IMAGE_INPUT}_{name}"))
        return f"{IMAGE_INPUT}_{name}"

    def step(op, inputs, name, **attrs):
        out = f"{IMAGE_INPUT}_{name}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    if colour == "BGR" and bgr_weights and _reverse_conv_channels(g, tensor_in, const):
        # The first convs now take RGB; mean and scale follow the channels they apply to.
        mean, scale = list(mean)[::-1], list(scale)[::-1]
    elif colour == "BGR":  # channels reversed by a step -1 slice: TVM fuses it with the cast
        t = step("Slice", [t, const("first", [-1], np.int64), const("last", [-4], np.int64),
                           const("axis", [3], np.int64), const("step", [-1], np.int64)], "ordered")
    t = step("Cast", [t], "float", to=TensorProto.FLOAT)
    if any(m != 0.0 for m in mean):
        t = step("Sub", [t, const("mean", np.reshape(mean, (1, 1, 1, 3)), np.float32)], "centred")
    if any(s != 1.0 for s in scale):
        t = step("Mul", [t, const("scale", np.reshape(scale, (1, 1, 1, 3)), np.float32)], "scaled")
    nodes.append(helper.make_node("Transpose", [t], [tensor_in], perm=[0, 3, 1, 2]))

    image = helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.UINT8, [1, h, w, 3])
    rest = list(g.input)[1:]
    del g.input[:]
    g.input.extend([image] + rest)
    body = list(g.node)
    del g.node[:]
    g.node.extend(nodes + body)
    return model
