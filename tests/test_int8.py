"""int8 convs: the dot-product intrinsics, the QDQ model, TVM's integer kernels against onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import pytest

from frvt_runtime.errors import ConfigError


def _gemm_with(intrinsic: str, cpu: str, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """int8_convs' matrix product, scheduled by hand around one tensorized intrinsic, run here."""
    import tvm
    from tvm import te
    from tvm.s_tir import Schedule

    from frvt_submission.compile.int8_convs import DEPTH, LANES, _gemm, packed_weights
    from frvt_submission.compile.int8_intrin import register

    register()
    wp = packed_weights(w)
    xt = te.placeholder(x.shape, "uint8", name="x")
    wt = te.placeholder(wp.shape, "int8", name="wp")
    sch = Schedule(te.create_prim_func([xt, wt, _gemm(xt, wt, w.shape[0])]))
    block = sch.get_sblock("int8_pointwise")
    n, i, j, o, k = sch.get_loops(block)
    oo, oi = sch.split(o, [None, LANES])
    ko, ki = sch.split(k, [None, DEPTH])
    sch.reorder(n, i, j, oo, ko, oi, ki)
    sch.decompose_reduction(block, ko)
    sch.tensorize(oi, intrinsic)
    lib = tvm.compile(sch.mod, target=tvm.target.Target({"kind": "llvm", "mcpu": cpu, "num-cores": 1}))
    out = tvm.runtime.tensor(np.zeros((*x.shape[:3], w.shape[0]), np.int32))
    lib["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(wp), out)
    return out.numpy()


@pytest.mark.parametrize("intrinsic,cpu", [("dot_16x4_avx2", "haswell"), ("dot_16x4_avx512", "skylake-avx512")])
def test_dot_intrinsics_sum_exactly(intrinsic, cpu):
    """Every sum exact, at the extremes too: 255 x +-63 pairs are the largest vpmaddubsw adds in int16."""
    from frvt_submission.compile.isa_class import host_features
    from frvt_submission.models.quantize import WEIGHT_MAX

    if cpu == "skylake-avx512" and "avx512bw" not in host_features():
        pytest.skip("this CPU has no AVX-512")
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (1, 3, 5, 72), dtype=np.uint8)
    w = rng.integers(-WEIGHT_MAX, WEIGHT_MAX + 1, (48, 1, 1, 72), dtype=np.int8)
    x[0, 0, 0], w[:16] = 255, WEIGHT_MAX  # one pixel and 16 output channels at the limits
    w[16:32:2] = -WEIGHT_MAX
    want = np.einsum("nhwk,ok->nhwo", x.astype(np.int64), w.reshape(48, 72).astype(np.int64))
    np.testing.assert_array_equal(_gemm_with(intrinsic, cpu, x, w), want)


def _toy_fp32_model(path, rng):
    """image 1x3x8x8 -> 3x3 conv -> BN -> PRelu -> 1x1 conv (16 -> 32) -> BN -> PRelu -> 1x1 conv (32 -> 24)
    -> Relu -> 3x3 conv, padded unevenly (24 -> 16) -> 3x3 conv, stride 2 (16 -> 16) -> 3x3 conv, padded (16 -> 16).
    The first conv reads 3 channels (stays fp32); the padded 3x3 conv after the Relu has zero point 0,
    the last one reads negative values: its padding is the zero point's level."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def bn(name, c):
        return [numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32), f"{name}_g"),
                numpy_helper.from_array(rng.normal(0, 0.2, c).astype(np.float32), f"{name}_b"),
                numpy_helper.from_array(rng.normal(0, 0.2, c).astype(np.float32), f"{name}_m"),
                numpy_helper.from_array(rng.uniform(0.5, 2.0, c).astype(np.float32), f"{name}_v")]

    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (16, 3, 3, 3)).astype(np.float32), "w0"),
             numpy_helper.from_array(rng.normal(0, 0.3, (32, 16, 1, 1)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.3, (24, 32, 1, 1)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.normal(0, 0.1, 24).astype(np.float32), "b2"),
             numpy_helper.from_array(rng.normal(0, 0.2, (16, 24, 3, 3)).astype(np.float32), "w3"),
             numpy_helper.from_array(rng.normal(0, 0.1, 16).astype(np.float32), "b3"),
             numpy_helper.from_array(rng.normal(0, 0.2, (16, 16, 3, 3)).astype(np.float32), "w4"),
             numpy_helper.from_array(rng.normal(0, 0.2, (16, 16, 3, 3)).astype(np.float32), "w5"),
             numpy_helper.from_array(np.full((16, 1, 1), 0.25, np.float32), "slope16"),
             numpy_helper.from_array(np.full((32, 1, 1), 0.1, np.float32), "slope32"),
             *bn("bn0", 16), *bn("bn1", 32)]
    nodes = [helper.make_node("Conv", ["image", "w0"], ["c0"], name="conv0", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c0", "bn0_g", "bn0_b", "bn0_m", "bn0_v"], ["n0"], name="bn0"),
             helper.make_node("PRelu", ["n0", "slope16"], ["r0"], name="prelu0"),
             helper.make_node("Conv", ["r0", "w1"], ["c1"], name="conv1"),
             helper.make_node("BatchNormalization", ["c1", "bn1_g", "bn1_b", "bn1_m", "bn1_v"], ["n1"], name="bn1"),
             helper.make_node("PRelu", ["n1", "slope32"], ["r1"], name="prelu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3", pads=[1, 0, 2, 1]),
             helper.make_node("Conv", ["c3", "w4"], ["c4"], name="conv4", strides=[2, 2]),
             helper.make_node("Conv", ["c4", "w5"], ["out"], name="conv5", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "toy", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 16, 4, 3])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _ort(path, x, fused=True):
    """onnxruntime's output; fused=False: its graph as written (DequantizeLinear, Conv, QuantizeLinear
    in float), where its default fuses them into integer convs that round differently."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.log_severity_level = 1, 3
    if not fused:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy model, its QDQ form over a calibration of its own inputs, and those inputs."""
    import onnx

    from frvt_submission.models.quantize import calibrate, quantizable_convs, quantized_model

    rng = np.random.default_rng(5)
    tmp = tmp_path_factory.mktemp("int8")
    fp32 = _toy_fp32_model(tmp / "toy.onnx", rng)
    inputs = [rng.uniform(0, 2, (1, 3, 8, 8)).astype(np.float32) for _ in range(24)]
    cal = calibrate(fp32, inputs, "0" * 64, log=lambda m: None)
    assert [c["conv"] for c in cal["layers"]] == [n.name for n in quantizable_convs(onnx.load(str(fp32)))] \
        == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    return fp32, quantized_model(fp32, cal, tmp / "toy_int8.onnx"), inputs


def test_qdq_model_folds_batchnorm_and_quantizes_to_seven_bits(toy):
    import onnx
    from onnx import numpy_helper

    from frvt_submission.models.quantize import WEIGHT_MAX

    fp32, int8, inputs = toy
    model = onnx.load(str(int8))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") == 5 and ops.count("BatchNormalization") == 1  # conv1's folded, conv0's kept
    weights = [numpy_helper.to_array(i) for i in model.graph.initializer if i.name.endswith("_w_q")]
    assert [w.shape for w in weights] == [(32, 16, 1, 1), (24, 32, 1, 1), (16, 24, 3, 3), (16, 16, 3, 3),
                                          (16, 16, 3, 3)]
    assert all(np.abs(w).max() == WEIGHT_MAX for w in weights)  # each channel's largest weight on the grid's end
    # The QDQ model approximates the float one (a wrong BatchNorm fold would not: bn1 shifts every channel).
    for x in inputs[:4]:
        a, b = _ort(fp32, x).ravel(), _ort(int8, x).ravel()
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.995


def test_tvm_computes_the_qdq_models_sums_in_integer_kernels(toy):
    """The QDQ model through import (int8_convs) and the NHWC passes, built untuned: the 1x1 convs
    are int8 matrix products, the 3x3 ones (padded, strided) int8 direct convs, and the output is
    onnxruntime's for the same QDQ model."""
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    from frvt_submission.compile.int8_convs import CONV_NAME, GEMM_NAME, use_int8_convs
    from frvt_submission.compile.tvm_build import pre_tuning_passes

    _, int8, inputs = toy
    mod = from_onnx(onnx.load(str(int8)), shape_dict={"image": [1, 3, 8, 8]}, keep_params_in_input=False)
    mod, rewritten = use_int8_convs(mod)
    assert rewritten == 5
    target = tvm.target.Target({"kind": "llvm", "num-cores": 1})
    with target:
        mod = tvm.transform.Sequential(pre_tuning_passes("NHWC", ()))(mod)
    kernels = [gv.name_hint for gv, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert sum(GEMM_NAME in k for k in kernels) == 2 and sum(CONV_NAME in k for k in kernels) == 3, kernels
    assert not any("quantize" in k for k in kernels), kernels  # relax.quantize would keep NCHW transposes
    vm = relax.VirtualMachine(relax.build(mod, target=target), tvm.cpu())
    exact = 0
    for x in inputs[:8]:
        got, want = vm["main"](tvm.runtime.tensor(x)).numpy(), _ort(int8, x, fused=False)
        # A value a float rounding away from a level's edge may land one level apart (here
        # conv5's input on one of the eight images: 0.3% of the output's range); any
        # systematic error (padding, stride, correction) shows on every image.
        np.testing.assert_allclose(got, want, atol=0.01 * np.abs(want).max())
        exact += bool(np.allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max()))
    assert exact >= 6


def test_gptq_rows_are_the_convs_patches(tmp_path):
    """The rows GPTQ weighs a KxK conv's rounding with are what the conv multiplies its weights by:
    rows @ weights is onnxruntime's conv, for a strided conv with uneven padding."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from frvt_submission.models.quantize import _patches

    rng = np.random.default_rng(4)
    w = rng.normal(size=(8, 4, 3, 2)).astype(np.float32)
    conv = helper.make_node("Conv", ["image", "w"], ["y"], name="c", strides=[2, 1], pads=[1, 0, 2, 1])
    graph = helper.make_graph([conv], "one", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 4, 7, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "w")])
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x = rng.normal(size=(1, 4, 7, 6)).astype(np.float32)
    want = _ort(path, x)[0]
    rows = _patches(x[0].astype(np.float64), conv, 3, 2)
    got = (rows @ w.reshape(8, -1).T.astype(np.float64)).T.reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_rounding_moves_the_convs_outputs_less_than_nearest_rounding():
    """GPTQ rounding: on correlated input channels, each rounding error pushed onto the channels not
    yet rounded leaves the outputs closer to the float conv's than rounding each weight alone."""
    from frvt_submission.models.quantize import WEIGHT_MAX, _gptq, weight_steps

    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 48)) @ rng.normal(size=(48, 48))
    w = rng.normal(size=(32, 48))
    q, scale = _gptq(w, x.T @ x)
    nearest, nearest_scale = weight_steps(w)
    assert q.dtype == np.int8 and np.abs(q).max() == WEIGHT_MAX and np.array_equal(scale, nearest_scale)

    def error(weights):
        return np.linalg.norm(x @ (weights * scale[:, None] - w).T)

    assert error(q) < 0.8 * error(nearest)


def test_activation_range_clips_rare_outliers_for_finer_steps():
    from frvt_submission.models.quantize import _least_error_range, activation_step

    rng = np.random.default_rng(2)
    v = np.concatenate([rng.normal(0, 1, 200_000), rng.normal(0, 30, 20)])

    def error(lo, hi):
        step, zero = activation_step(lo, hi)
        return np.mean(((np.clip(np.round(v / step) + zero, 0, 255) - zero) * step - v) ** 2)

    lo, hi = _least_error_range(v)
    assert v.min() < lo < 0 < hi < v.max()
    assert error(lo, hi) < 0.75 * error(v.min(), v.max())


def test_a_calibration_and_its_weights_are_read_as_written(toy, tmp_path):
    from frvt_submission.models.quantize import (calibrate, read_calibration, weights_file,
                                                 write_calibration)

    fp32, _, inputs = toy
    cal = calibrate(fp32, inputs, "c" * 64, log=lambda m: None)
    path = tmp_path / "toy.json"
    write_calibration(cal, path)
    back = read_calibration(path, "c" * 64)
    assert [layer["conv"] for layer in back["layers"]] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    for conv, arrays in cal["weights"].items():
        assert np.array_equal(back["weights"][conv]["q"], arrays["q"])
        assert np.array_equal(back["weights"][conv]["scale"], arrays["scale"])
    np.savez(weights_file(path), **{"conv1/q": np.zeros((32, 16), np.int8)})  # another file's weights
    with pytest.raises(ConfigError, match="weights file"):
        read_calibration(path, "c" * 64)


def test_a_calibration_is_for_one_model(tmp_path):
    from frvt_submission.models.quantize import FORMAT, read_calibration

    f = tmp_path / "m.json"
    with pytest.raises(ConfigError, match="does not exist"):
        read_calibration(f, "a" * 64)
    f.write_text(json.dumps({"format": FORMAT, "source_sha256": "b" * 64, "layers": []}))
    with pytest.raises(ConfigError, match="another model"):
        read_calibration(f, "a" * 64)
    f.write_text("{not json")
    with pytest.raises(ConfigError, match="not a calibration file"):
        read_calibration(f, "a" * 64)


def test_calibration_refuses_a_model_without_a_conv_it_can_compute(tmp_path):
    """A 3x3 conv on 3 channels (a stem) and a depthwise one: nothing for int8, said before any work."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from frvt_submission.models.quantize import calibrate

    rng = np.random.default_rng(6)
    nodes = [helper.make_node("Conv", ["image", "w0"], ["c0"], name="stem", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["c0", "w1"], ["out"], name="dw", group=8, pads=[1, 1, 1, 1])]
    inits = [numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w0"),
             numpy_helper.from_array(rng.normal(size=(8, 1, 3, 3)).astype(np.float32), "w1")]
    graph = helper.make_graph(nodes, "none", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "none.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ConfigError, match="no convolution int8 can compute"):
        calibrate(path, [rng.normal(size=(1, 3, 8, 8)).astype(np.float32)] * 20, "0" * 64, log=lambda m: None)


def test_calibration_needs_enough_faces(toy):
    from frvt_submission.models.quantize import calibrate

    fp32, _, inputs = toy
    with pytest.raises(ConfigError, match="at least 20"):
        calibrate(fp32, inputs[:5], "0" * 64, log=lambda m: None)


def test_int8_needs_nhwc_and_a_boolean(settings):
    import dataclasses

    from frvt_submission.config import _check_build

    rec = settings.recognizer
    with pytest.raises(ConfigError, match="needs layout"):
        _check_build(dataclasses.replace(rec, int8=True, layout="NCHW"), "recognizer")
    with pytest.raises(ConfigError, match="true or false"):
        _check_build(dataclasses.replace(rec, int8="yes"), "recognizer")


@pytest.mark.parametrize("profile,min_cosine", [("yunet-sface-int8", 0.98), ("yunet-dlibresnet-int8", 0.99)])
def test_committed_calibration_keeps_the_recognizers_embeddings(test_images, profile, min_cosine):
    """Each int8 profile's QDQ recognizer (its committed calibration: SFace's 1x1 convs, dlib's 3x3
    ones) against its fp32 model on the registry's real faces, both under onnxruntime."""
    from frvt_submission import paths
    from frvt_submission.config import load_settings

    settings = load_settings(paths.PROFILES / f"{profile}.toml")
    from frvt_submission.commands.calibrate import aligned_faces
    from frvt_submission.models.prepare import clean_fp32_onnx, cleaned_onnx
    from frvt_submission.reference import OrtModel, to_tensor

    rec = settings.recognizer
    assert rec.int8
    faces = aligned_faces(settings, sorted(p for p in test_images.iterdir() if p.suffix in (".jpg", ".png")))
    assert len(faces) >= 5
    fp32, int8 = OrtModel(clean_fp32_onnx(rec)), OrtModel(cleaned_onnx(rec))
    assert int8.output_names == fp32.output_names
    for crop in faces:
        x = to_tensor(crop, rec.colour, rec.mean, rec.scale)
        a, b = (next(iter(m(x).values())).ravel() for m in (fp32, int8))
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > min_cosine


@pytest.mark.parametrize("profile,convs", [("yunet-sface-int8", 13), ("yunet-dlibresnet-int8", 28)])
def test_the_int8_recognizer_compiles_tuned_and_matches_its_reference(test_images, tmp_path, profile, convs):
    """Each int8 profile's recognizer for the avx2 class with the records in tuning/: its convs
    (SFace's 13 1x1 ones, dlib's 28 3x3 ones) are integer kernels (dot_16x4_avx2), every kernel is
    tuned, and its embeddings are onnxruntime's of the QDQ model on real faces to the int8 parity
    bound."""
    from frvt_submission import paths
    from frvt_submission.commands.calibrate import aligned_faces
    from frvt_submission.compile.build_models import pick_records, records_name
    from frvt_submission.compile.parity import MIN_COSINE_INT8
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.config import load_settings
    from frvt_submission.models.prepare import cleaned_onnx, output_names
    from frvt_submission.models.sources import fetch_model
    from frvt_submission.reference import OrtModel, to_tensor

    settings = load_settings(paths.PROFILES / f"{profile}.toml")
    spec = settings.recognizer
    target = resolve_target("haswell")  # (runs on every AVX2 machine, this one included)
    db, _ = pick_records(target, records_name(spec), lambda m: None)
    assert db is not None and db.parent.name == "avx2"
    onnx_path = cleaned_onnx(spec)
    facts = compile_model(onnx_path, spec, target, tmp_path / "recognizer.so", db, lambda m: None,
                          original=fetch_model(spec))
    assert facts["int8_convs"] == convs
    assert facts["tuned"] and facts["unscheduled"] == [], facts["unscheduled"]
    model = compiled_model(tmp_path / "recognizer.so", output_names(onnx_path))
    reference = OrtModel(onnx_path)
    faces = aligned_faces(settings, sorted(p for p in test_images.iterdir() if p.suffix in (".jpg", ".png")))
    for crop in faces:
        a = next(iter(model(crop).values())).reshape(-1)
        b = next(iter(reference(to_tensor(crop, spec.colour, spec.mean, spec.scale)).values())).reshape(-1)
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) >= MIN_COSINE_INT8
