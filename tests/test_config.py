"""Settings parse strictly: unknown keys, bad names and bad values are clear ConfigErrors."""

import pytest

from frvt_submission import paths
from frvt_runtime.config import load_runtime, load_settings, runtime_dict
from frvt_runtime.errors import ConfigError


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
    ('top_k = 50', 'top_k = 50\nbogus = 1', "unknown key"),
    ('score_threshold = 0.6', 'score_threshold = "high"', "score_threshold"),
    ('face_selection = "central"', 'face_selection = "random"', "face_selection"),
])
def test_bad_settings_are_named(tmp_path, old, new, needle):
    with pytest.raises(ConfigError, match=needle):
        load_settings(_variant(tmp_path, old, new))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


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
