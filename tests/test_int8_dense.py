"""Dense layers keep their blockwise int8 weights in the TVM graph, with the same results."""

import numpy as np
import pytest

import onnx
import onnxruntime as ort

from conftest import prepared_kernels

O, BLOCK, C = 24, 64, 5


def _quantized_gemm(path, h=4, w=4, conv=False):
    """image-sized input [-> 1x1 Conv to C channels] -> Flatten -> Gemm whose weight is a blocked
    DequantizeLinear (as SFace's last layer)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    c = C if conv else 3
    q = rng.integers(-128, 128, (O, c * h * w), dtype=np.int8)
    blocks = -(-q.shape[1] // BLOCK)
    scale = (rng.random((O, blocks)) * 0.02 + 0.001).astype(np.float32)
    zero = rng.integers(-5, 5, (O, blocks), dtype=np.int8)
    bias = rng.standard_normal(O).astype(np.float32)
    inits = [numpy_helper.from_array(q, "wq"), numpy_helper.from_array(scale, "ws"),
             numpy_helper.from_array(zero, "wz"), numpy_helper.from_array(bias, "b")]
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=1, block_size=BLOCK),
             helper.make_node("Flatten", ["c" if conv else "x"], ["f"]),
             helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1)]
    if conv:
        inits.append(numpy_helper.from_array(rng.standard_normal((C, 3, 1, 1)).astype(np.float32), "cw"))
        nodes.insert(0, helper.make_node("Conv", ["x", "cw"], ["c"]))
    graph = helper.make_graph(nodes, "qgemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, h, w])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, O])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return path, (w, h)


@pytest.fixture(params=[(8, 12), (8, 8)], ids=["K=288, last block partial", "K=192, whole blocks"])
def models(tmp_path, request):
    from frvt_submission.models.clean import clean_model

    original, size = _quantized_gemm(tmp_path / "q.onnx", *request.param)
    cleaned = tmp_path / "q_fp32.onnx"
    clean_model(original, cleaned)
    return original, cleaned, size


def test_the_dense_layer_is_rewritten_only_when_its_weights_match(models):
    from frvt_submission.compile.int8_dense import blockwise_gemm_weights
    from frvt_submission.compile.tvm_build import import_onnx
    from frvt_submission.config import ModelSettings

    original, cleaned, size = models
    weights = blockwise_gemm_weights(original)
    assert [(w.q.shape, w.block) for w in weights] == [((O, 3 * size[0] * size[1]), BLOCK)]
    spec = ModelSettings(name="q", input_size=size)
    assert "dense_int8_blockwise" in import_onnx(cleaned, spec, original).script()
    assert "dense_int8_blockwise" not in import_onnx(cleaned, spec).script()
    # Different weights in the cleaned model (a user's edit): the int8 copy must not replace them.
    m = onnx.load(str(cleaned))
    for init in m.graph.initializer:
        if init.name == "w":
            arr = onnx.numpy_helper.to_array(init).copy()
            arr[0, 0] += 1.0
            init.CopyFrom(onnx.numpy_helper.from_array(arr, "w"))
    edited = cleaned.with_name("edited.onnx")
    onnx.save(m, str(edited))
    assert "dense_int8_blockwise" not in import_onnx(edited, spec, original).script()


def test_compiled_int8_dense_matches_onnxruntime(models, tmp_path):
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.reference import to_tensor

    original, cleaned, size = models
    spec = ModelSettings(name="q", input_size=size)
    out = tmp_path / "q.so"
    facts = compile_model(cleaned, spec, resolve_target("host"), out, None, log=lambda msg: None, original=original)
    assert [k for k in facts["hand_scheduled"] if k.startswith("dense_int8_blockwise")], facts["hand_scheduled"]
    image = np.random.default_rng(2).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    x = to_tensor(image, spec.colour, spec.mean, spec.scale)
    want = ort.InferenceSession(str(cleaned), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    # Summation order differs from onnxruntime's: fp32 rounding relative to the output scale.
    np.testing.assert_allclose(compiled_model(out, ["y"])(image)["y"], want, rtol=1e-4,
                               atol=1e-5 * float(np.abs(want).max()))


@pytest.mark.parametrize("size", [(8, 12), (8, 8)])
def test_in_nhwc_the_dense_layer_reads_the_feature_map_without_a_transpose(tmp_path, size):
    """conv -> Flatten -> int8 Gemm compiled NHWC: the flatten is NCHW order, so after the layout
    conversion a transpose kernel wrote it before the dense layer; with dense_reads_nhwc the dense
    kernel reads the NHWC map where each value lies, and the outputs stay onnxruntime's."""
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.compile.graph_passes import GRAPH_PASSES
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.models.clean import clean_model
    from frvt_submission.reference import to_tensor

    original, (w, h) = _quantized_gemm(tmp_path / "q.onnx", size[1], size[0], conv=True)
    cleaned = tmp_path / "q_fp32.onnx"
    clean_model(original, cleaned)
    spec = ModelSettings(name="q", input_size=(w, h), layout="NHWC")
    target = resolve_target("host")

    without = tuple(p for p in GRAPH_PASSES if p != "dense_reads_nhwc")
    assert any("transpose" in k for k in prepared_kernels(cleaned, spec, without, original))
    assert not any("transpose" in k for k in prepared_kernels(cleaned, spec, GRAPH_PASSES, original))
    out = tmp_path / "q.so"
    compile_model(cleaned, spec, target, out, None, log=lambda msg: None, original=original)
    image = np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8)
    want = ort.InferenceSession(str(cleaned), providers=["CPUExecutionProvider"]).run(
        None, {"x": to_tensor(image, spec.colour, spec.mean, spec.scale)})[0]
    np.testing.assert_allclose(compiled_model(out, ["y"])(image)["y"], want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))
