"""Compile round trip: ONNX -> TVM -> exported .so -> reloaded by the runtime alone -> onnxruntime parity."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from frvt_submission.compile.parity import min_cosine

from conftest import onnx_model


@pytest.fixture(scope="module")
def compiled_dir(tmp_path_factory, test_images):
    out = tmp_path_factory.mktemp("cfg")
    r = subprocess.run([sys.executable, "-m", "frvt_submission", "compile", "--config-dir", str(out)],
                       capture_output=True, text=True)
    return out, r


def test_compile_exports_and_reloads_with_parity(compiled_dir, settings):
    out, r = compiled_dir
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    from frvt_submission.compile.isa_class import host_features

    manifest = json.loads((out / "models.json").read_text())
    # The default target builds NIST's two classes; this host checks each path it can run.
    assert manifest["order"] == ["avx512", "avx2"]
    lines = {ln.split("]")[0] + "]": ln for ln in r.stdout.splitlines() if ln.startswith("parity [")}
    runnable = [p for p in manifest["order"] if set(manifest["paths"][p]["requires"]) <= host_features()]
    assert "avx2" in runnable
    for path in manifest["order"]:
        line = lines[f"parity [{path}]"]
        if path not in runnable:
            assert "not checked: this CPU lacks" in line
            continue
        assert "-> OK" in line and "(detector at 320x320, 480x640, 640x640)" in line
        assert float(line.split("min cosine ")[1].split(",")[0]) >= min_cosine(manifest["paths"][path]["models"])
    sizes = {f"detector_{w}x{h}" for w, h in settings.detector.smaller_sizes}
    for path, built in manifest["paths"].items():
        models = built["models"]
        assert set(models) == {"detector", "recognizer", "resample"} | sizes
        assert models["resample"]["functions"] == ["halve_rgb", "quarter_rgb", "area_rgb", "warp_rgb", "warp_inside_rgb"]
        assert models["detector"]["outputs"][:3] == ["cls_8", "cls_16", "cls_32"]
        for entry in models.values():
            so = out / entry["file"]
            assert so.parent.name == path and so.is_file() and so.read_bytes()[:4] == b"\x7fELF"
    # The weights once: both paths' recognizers name the same arrays, stored once.
    rec = [manifest["paths"][p]["models"]["recognizer"]["params"] for p in manifest["order"]]
    assert rec[0] == rec[1] and len(rec[0]) > 50
    assert manifest["weights"]["mb"] < 25 and (out / "weights.npz").stat().st_size < 25e6
    # Deflated on disk (config/ counts unpacked against the size goal): smaller than the arrays.
    with zipfile.ZipFile(out / "weights.npz") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
    assert (out / "weights.npz").stat().st_size < 0.9 * manifest["weights"]["mb"] * 1e6


def test_runtime_only_load_does_not_import_the_compiler(compiled_dir, test_images):
    out, _ = compiled_dir
    code = ("import sys; from frvt_runtime.pipeline import FacePipeline; "
            "from frvt_submission.imagefile import read_image; "
            "from frvt_submission.tvm_wheel import wheel_runtime_dir; "
            f"p = FacePipeline.from_config_dir(__import__('pathlib').Path({str(out)!r}), wheel_runtime_dir()); "
            f"r = p.create_template([read_image(__import__('pathlib').Path({str(test_images / 'obama.jpg')!r}))]); "
            "print(r.code.name, len(r.templates[0]), 'tvm' in sys.modules, 'onnxruntime' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Success", "528", "False", "False"]


def test_records_fall_back_to_another_cpu_of_the_class_not_to_an_empty_database(tmp_path, monkeypatch):
    from frvt_submission import paths
    from frvt_submission.compile.build_models import pick_records
    from frvt_submission.compile.tvm_build import resolve_target

    def db(cpu, model, records):
        d = tmp_path / cpu / model
        d.mkdir(parents=True)
        (d / "database_workload.json").write_text("[]\n")
        (d / "database_tuning_record.json").write_text(records)
        return d

    monkeypatch.setattr(paths, "TUNING_DB", tmp_path)
    own = db("znver5", "recognizer", "[0]\n")
    db("skylake-avx512", "recognizer", "")          # an empty database is not a fallback
    other = db("cascadelake", "detector", "[0]\n")
    said = []
    assert pick_records(resolve_target("znver5"), "recognizer", said.append) == (own, "avx512") and said == []
    assert pick_records(resolve_target("skylake-avx512"), "recognizer", said.append) == (own, "avx512")
    assert pick_records(resolve_target("icelake-server"), "detector", said.append) == (other, "avx512")
    assert "another avx512 CPU's: tuning/cascadelake" in said[-1]
    assert pick_records(resolve_target("znver3"), "detector", said.append) == (None, None)  # wider only
    assert pick_records(resolve_target("znver5"), "embedder", said.append) == (None, None)

@pytest.mark.parametrize("workloads", ['["unterminated"', '["not base64", "at all"]'])
def test_a_corrupt_records_database_is_a_compile_error_naming_the_folder(tmp_path, workloads):
    """TVM's own exceptions while the records are applied (here a hand-edited or truncated
    database) come out as one CompileError that names the step and the folder, not a
    traceback from inside TVM."""
    import onnx
    from onnx import helper, numpy_helper

    from frvt_submission.config import ModelSettings
    from frvt_submission.errors import CompileError
    from frvt_submission.compile.tvm_build import compile_model, resolve_target

    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    probe = onnx_model("probe", [helper.make_node("Conv", ["x", "w"], ["y"])], [1, 3, 8, 8], [("y", [1, 4, 6, 6])], [w])
    onnx.save(probe, str(tmp_path / "probe.onnx"))
    db = tmp_path / "records"
    db.mkdir()
    (db / "database_workload.json").write_text(workloads + "\n")
    (db / "database_tuning_record.json").write_text("[0, [[1]]]\n")
    spec = ModelSettings(name="probe", input_size=(8, 8), layout="NHWC")
    with pytest.raises(CompileError, match=f"applying the tuning records in {db} failed: [A-Za-z]+Error: .+"):
        compile_model(tmp_path / "probe.onnx", spec, resolve_target("host"), tmp_path / "probe.so", db,
                      log=lambda msg: None)
    assert not (tmp_path / "probe.so").exists()


def test_config_dir_keeps_only_this_builds_models(tmp_path, settings):
    """A rebuild with fewer detector sizes leaves no model of the earlier build in config/: it
    would ship in the tarball unlisted."""
    import dataclasses

    from frvt_runtime.config_dir import KERNELS, MANIFEST_FILE
    from frvt_submission.compile.build_models import compiled_specs
    from frvt_submission.compile.write_config import write_config_dir

    def build(s, path="avx2"):
        compiled = {}
        for spec in compiled_specs(s):
            so = tmp_path / "built" / f"{spec.name}.so"
            so.parent.mkdir(exist_ok=True)
            so.write_bytes(spec.name.encode())
            compiled[spec.name] = {"so": so, "outputs": []}
        so = tmp_path / "built" / "kernels.so"
        so.write_bytes(b"k")
        compiled[KERNELS] = {"so": so, "functions": [], "cpu": "x", "isa_class": None}
        write_config_dir(s, {path: {"cpu": "x", "isa_class": None, "requires": [], "models": compiled}},
                         tmp_path / "config")
        return sorted(p.relative_to(tmp_path / "config").as_posix() for p in (tmp_path / "config").rglob("*.so"))

    assert len(settings.detector.smaller_sizes) >= 1
    first = build(settings)
    assert "avx2/detector_320x320.so" in first
    fewer = dataclasses.replace(settings, detector=dataclasses.replace(settings.detector, smaller_sizes=()))
    assert build(fewer) == ["avx2/detector.so", "avx2/recognizer.so", "avx2/resample.so"]
    manifest = json.loads((tmp_path / "config" / MANIFEST_FILE).read_text())
    assert set(manifest["paths"]["avx2"]["models"]) == {"detector", "recognizer", KERNELS}
    # A path of another target's build is dropped too.
    assert build(fewer, "znver4") == ["znver4/detector.so", "znver4/recognizer.so", "znver4/resample.so"]
