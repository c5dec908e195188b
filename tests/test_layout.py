"""NHWC conversion: a conv/BatchNorm/PReLU/depthwise/Dropout/Gemm network compiled channels-last
gives onnxruntime's output, and its convolutions really are NHWC."""

import numpy as np
import pytest

import onnx
import onnxruntime as ort

from conftest import onnx_model


def _mobile_block(path, c=8, h=12, w=10):
    """The ops SFace is made of, at toy size; BatchNormalization twice (after a conv, which
    folds, and after a PReLU, which stays) and Dropout (a tuple-valued op in Relax)."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = {
        "w1": rng.standard_normal((c, 3, 3, 3)), "w2": rng.standard_normal((c, 1, 3, 3)),
        "w3": rng.standard_normal((2 * c, c, 1, 1)), "slope": rng.random((c, 1, 1)) * 0.3,
        "g": rng.random(c) + 0.5, "b": rng.standard_normal(c), "m": rng.standard_normal(c), "v": rng.random(c) + 0.5,
        "g2": rng.random(2 * c) + 0.5, "b2": rng.standard_normal(2 * c), "m2": rng.standard_normal(2 * c),
        "v2": rng.random(2 * c) + 0.5, "fc": rng.standard_normal((4, 2 * c * (h // 2) * (w // 2))) * 0.05,
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["n1"]),
        helper.make_node("PRelu", ["n1", "slope"], ["p1"]),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2], group=c),
        helper.make_node("Conv", ["c2", "w3"], ["c3"]),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("BatchNormalization", ["r3", "g2", "b2", "m2", "v2"], ["n3"]),
        helper.make_node("Dropout", ["n3"], ["d3"]),
        helper.make_node("Flatten", ["d3"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1),
    ]
    onnx.save(onnx_model("block", nodes, [1, 3, h, w], [("y", [1, 4])],
                         [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()]), str(path))
    return path, (w, h)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_layout_keeps_the_output(tmp_path, layout):
    from frvt_submission.compile.tvm_build import compile_model, import_onnx, prepare, resolve_target
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.reference import to_tensor

    path, size = _mobile_block(tmp_path / "block.onnx")
    spec = ModelSettings(name="block", input_size=size, colour="RGB", layout=layout)
    target = resolve_target("host")
    script = prepare(import_onnx(path, spec), target, layout).script()
    # The legalized conv kernels are named after their layout (conv2d_nchw / conv2d_nhwc).
    assert f"conv2d_{layout.lower()}" in script and ("conv2d_nchw" in script) == (layout == "NCHW")
    out = tmp_path / "block.so"
    compile_model(path, spec, target, out, None, log=lambda msg: None)
    image = np.random.default_rng(4).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": to_tensor(image, spec.colour, spec.mean, spec.scale)})[0]
    got = compiled_model(out, ["y"])(image)["y"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
