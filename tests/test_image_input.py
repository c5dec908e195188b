"""The in-graph input conversion equals numpy's to_tensor, under onnxruntime and compiled by TVM."""

import numpy as np
import pytest

import onnx
import onnxruntime as ort

from conftest import onnx_model

CASES = [("BGR", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), ("RGB", (127.5, 120.0, 3.0), (1 / 128, 0.5, 2.0))]


def _identity_like(path, h=24, w=40):
    """A 1x1 conv with distinct per-channel weights: any channel mix-up or layout error shows."""
    from onnx import helper, numpy_helper

    weight = numpy_helper.from_array(np.diag([1.0, 10.0, 100.0]).astype(np.float32).reshape(3, 3, 1, 1), "w")
    onnx.save(onnx_model("probe", [helper.make_node("Conv", ["x", "w"], ["y"])], [1, 3, h, w], [("y", [1, 3, h, w])],
                         [weight]), str(path))
    return path, (w, h)


def _run_ort(model_or_path, feed):
    blob = model_or_path.SerializeToString() if hasattr(model_or_path, "SerializeToString") else str(model_or_path)
    return ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, feed)[0]


@pytest.mark.parametrize("colour, mean, scale", CASES)
def test_image_input_graph_matches_to_tensor(tmp_path, colour, mean, scale):
    from frvt_submission.compile.image_input import IMAGE_INPUT, with_image_input
    from frvt_submission.reference import to_tensor

    path, size = _identity_like(tmp_path / "probe.onnx")
    image = np.random.default_rng(5).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    adapted = with_image_input(onnx.load(str(path)), colour, mean, scale, size)
    onnx.checker.check_model(adapted)
    assert [i.name for i in adapted.graph.input] == [IMAGE_INPUT]
    want = _run_ort(path, {"x": to_tensor(image, colour, mean, scale)})
    got = _run_ort(adapted, {IMAGE_INPUT: image[None]})
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("colour, mean, scale", CASES)
def test_compiled_model_takes_the_image(tmp_path, colour, mean, scale):
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.reference import to_tensor

    path, size = _identity_like(tmp_path / "probe.onnx")
    spec = ModelSettings(name="probe", input_size=size, colour=colour, mean=mean, scale=scale)
    out = tmp_path / "probe.so"
    compile_model(path, spec, resolve_target("host"), out, None, log=lambda msg: None)
    image = np.random.default_rng(6).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    model = compiled_model(out, ["y"])
    np.testing.assert_allclose(model(image)["y"], _run_ort(path, {"x": to_tensor(image, colour, mean, scale)}),
                               rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        model(to_tensor(image, colour, mean, scale))


@pytest.mark.parametrize("shared", [False, True])
def test_bgr_reverses_conv_weights_or_slices_the_image(tmp_path, shared):
    """A BGR model whose input feeds only convs gets their weights' channels reversed (a Slice of
    the weights, folded at compile time); any other consumer (here a Sum over channels beside the
    conv) keeps the reversing Slice of the image."""
    from onnx import helper, numpy_helper

    from frvt_submission.compile.image_input import IMAGE_INPUT, with_image_input
    from frvt_submission.reference import to_tensor

    h, w = 6, 7
    weight = np.random.default_rng(10).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    if shared:
        nodes += [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=1), helper.make_node("Add", ["y", "s"], ["z"])]
    model = onnx_model("bgr", nodes, [1, 3, h, w], [("z" if shared else "y", [1, 4, h, w])],
                       [numpy_helper.from_array(weight, "w")])
    mean, scale = (10.0, 20.0, 30.0), (0.5, 1.0, 2.0)  # BGR order: must follow the channels
    adapted = with_image_input(model, "BGR", mean, scale, (w, h))
    slices = [n for n in adapted.graph.node if n.op_type == "Slice"]
    assert [n.input[0] for n in slices] == ([IMAGE_INPUT] if shared else ["w"])
    image = np.random.default_rng(11).integers(0, 256, (h, w, 3), dtype=np.uint8)
    want = _run_ort(model, {"x": to_tensor(image, "BGR", mean, scale)})
    np.testing.assert_allclose(_run_ort(adapted, {IMAGE_INPUT: image[None]}), want, rtol=1e-5, atol=1e-4)
