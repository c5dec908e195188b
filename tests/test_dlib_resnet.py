"""dlib's ResNet as models/dlib_resnet.py converts it: dlib's own descriptors on real face chips, the
150x150 chip's alignment template, the pinned and repeatable conversion, the settings it needs."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from frvt_runtime.errors import ConfigError
from frvt_submission import paths
from frvt_submission.config import load_settings, settings_from_dict
from frvt_submission.imagefile import read_image
from frvt_submission.models import dlib_resnet
from frvt_submission.models.converters import check_input_facts
from frvt_submission.models.dlib_chip import chip_template
from frvt_submission.models.sources import fetch_model, wheel_member
from frvt_submission.reference import OrtModel, to_tensor

PROFILE = paths.ROOT / "profiles" / "yunet-dlibresnet.toml"
PREDICTOR = "face_recognition_models/models/shape_predictor_5_face_landmarks.dat"


@pytest.fixture(scope="module")
def profile():
    return load_settings(PROFILE)


@pytest.fixture(scope="module")
def dat(profile):
    return wheel_member(profile.recognizer)


@pytest.fixture(scope="module")
def dlib_chips(profile, test_images):
    """dlib's own 150x150 chips (its HOG detector, its 5-point predictor from the same wheel,
    get_face_chip with padding 0.25) of the registry's real faces, by image name."""
    dlib = pytest.importorskip("dlib")
    predictor = dlib.shape_predictor(str(wheel_member(dataclasses.replace(profile.recognizer, member=PREDICTOR))))
    detector = dlib.get_frontal_face_detector()
    chips = {}
    for p in sorted(test_images.glob("*.jpg")):
        image = read_image(p)
        found = detector(image, 1)
        if found:
            face = max(found, key=lambda r: r.area())
            chips[p.stem] = dlib.get_face_chip(image, predictor(image, face), 150, 0.25)
    assert len(chips) >= 5, f"dlib found faces in only {sorted(chips)}"
    return chips


@pytest.fixture(scope="module")
def dlib_descriptors(dat, dlib_chips):
    import dlib

    model = dlib.face_recognition_model_v1(str(dat))
    return {k: np.array(model.compute_face_descriptor(chip)) for k, chip in dlib_chips.items()}


def test_converted_model_gives_dlibs_descriptors(profile, dlib_chips, dlib_descriptors):
    """The same chip through dlib and through the converted ONNX (onnxruntime, with the profile's
    colour, mean and scale): float32 sums in another order, so equal to ~1e-6, checked to 1e-4."""
    spec = profile.recognizer
    ort = OrtModel(fetch_model(spec))
    worst = 0.0
    for name, chip in dlib_chips.items():
        ours = next(iter(ort(to_tensor(chip, spec.colour, spec.mean, spec.scale)).values())).reshape(-1)
        worst = max(worst, float(np.abs(ours - dlib_descriptors[name]).max()))
    assert worst <= 1e-4, f"converted model differs from dlib by {worst:.3g}"


def test_the_compiled_recognizer_with_its_committed_records_gives_dlibs_descriptors(profile, dlib_chips,
                                                                                    dlib_descriptors, tmp_path):
    """TVM's build of the converted model for the avx2 class, with the records in tuning/: every
    kernel tuned, and the same descriptors as dlib. Seen failing (cosine 0.971) when the zero pads
    of two strided convs' outputs were fused into the convs' kernels, whose tuned schedules then
    computed wrong values; output_pads_apart (graph_passes.py) keeps those pads apart."""
    from frvt_submission.compile.build_models import pick_records, records_name
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.models.prepare import cleaned_onnx, output_names

    spec = profile.recognizer
    target = resolve_target("haswell")  # (runs on every AVX2 machine, this one included)
    db, _ = pick_records(target, records_name(spec), lambda m: None)
    assert db is not None and db.parent.name == "avx2"
    onnx_path = cleaned_onnx(spec)
    said = []
    facts = compile_model(onnx_path, spec, target, tmp_path / "recognizer.so", db, said.append,
                          original=fetch_model(spec))
    assert "output_pads_apart" in facts["graph_passes"]
    assert facts["tuned"] and facts["unscheduled"] == [], facts["unscheduled"]
    model = compiled_model(tmp_path / "recognizer.so", output_names(onnx_path))
    worst = max(float(np.abs(next(iter(model(chip).values())).reshape(-1) - dlib_descriptors[name]).max())
                for name, chip in dlib_chips.items())
    assert worst <= 1e-4, f"the compiled model differs from dlib by {worst:.3g}"


def test_our_alignment_gives_dlibs_embeddings(profile, test_images, dlib_descriptors):
    """The profile's template is the one derived from dlib's mean face, and our chip (YuNet's
    landmarks warped onto it) embeds like dlib's own chip of the same photo: measured cosine
    0.985-0.999 on 36 real photos; a same-person pair of different photos scores lower."""
    from frvt_submission.reference import reference_pipeline

    np.testing.assert_allclose(profile.recognizer.alignment_template, chip_template(150, 0.25), atol=1e-4)
    pipe = reference_pipeline(profile)
    for name, theirs in dlib_descriptors.items():
        ours = pipe.embedding_of(read_image(test_images / f"{name}.jpg"))
        cosine = float(ours @ theirs / np.linalg.norm(theirs))
        assert cosine >= 0.98, f"{name}: our chip's embedding is at cosine {cosine:.4f} from dlib's chip's"


def test_conversion_is_repeatable_and_pinned(profile, dat):
    data = dat.read_bytes()
    first, second = dlib_resnet.convert(data), dlib_resnet.convert(data)
    assert first == second
    assert hashlib.sha256(first).hexdigest() == profile.recognizer.sha256


def test_a_network_definition_that_differs_from_the_file_is_refused(dat, monkeypatch):
    """Each layer's kind and shape are read against the definition: a swapped pair of layers,
    or a file cut short, is an error naming the byte, never a wrong model."""
    chain = dlib_resnet.anet_chain

    def swapped():
        layers = chain()
        layers[-3], layers[-2] = layers[-2], layers[-3]  # the stem's affine and relu
        return layers

    data = dat.read_bytes()
    monkeypatch.setattr(dlib_resnet, "anet_chain", swapped)
    with pytest.raises(ConfigError, match="found 'affine_' where 'relu_' or 'relu_2' was expected"):
        dlib_resnet.read_net(data)
    monkeypatch.setattr(dlib_resnet, "anet_chain", chain)
    with pytest.raises(ConfigError, match="file ends"):
        dlib_resnet.read_net(data[:-1000])


def test_settings_must_give_the_converted_models_input(profile):
    spec = profile.recognizer
    onnx_path = fetch_model(spec)
    check_input_facts(spec, onnx_path)
    wrong = dataclasses.replace(spec, mean=(104.298, 117.001, 122.782))  # BGR order
    with pytest.raises(ConfigError, match=r"\[recognizer\] mean = .*set \[recognizer\] mean = \[122.78"):
        check_input_facts(wrong, onnx_path)
    with pytest.raises(ConfigError, match=r"\[recognizer\] scale"):
        check_input_facts(dataclasses.replace(spec, scale=(1 / 255,) * 3), onnx_path)


def test_an_unknown_converter_is_refused():
    import tomllib

    raw = tomllib.loads(PROFILE.read_text())
    raw["recognizer"]["convert"] = "dlib_resnt"
    with pytest.raises(ConfigError, match=r"\[recognizer\] convert: unknown converter 'dlib_resnt'"):
        settings_from_dict(raw)
