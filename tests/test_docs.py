"""doc/version.txt's facts and the measurements' stamps: the version, the commit, the build's records."""

import json
import re
import subprocess
import tomllib

from frvt_submission import __version__, paths
from conftest import one_path_manifest


def test_the_version_is_pyprojects():
    """__init__ said 0.1.0 while pyproject.toml said 0.4.0, and version.txt (shipped to NIST) took
    __init__'s."""
    assert __version__ == tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_revision_says_dirty_when_tracked_files_changed(tmp_path, monkeypatch):
    from frvt_submission.docs import _git_revision

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    monkeypatch.setattr(paths, "ROOT", tmp_path)
    assert _git_revision() == "unknown"  # not a repository
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "one")
    rev = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    (tmp_path / "build.log").write_text("untracked output\n")  # build outputs are not changes
    assert _git_revision() == rev
    (tmp_path / "a.py").write_text("x = 2\n")
    assert _git_revision() == f"{rev}-dirty"


def test_the_stamp_says_dirty_when_a_tracked_file_differs_and_names_each_models_records(tmp_path, monkeypatch):
    from frvt_submission.docs import REFERENCE, measurement_stamp

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    monkeypatch.setattr(paths, "ROOT", tmp_path)
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "one")
    rev = git("rev-parse", "--short", "HEAD")
    stamp = measurement_stamp(None)
    assert stamp["commit"] == rev and stamp["records"] == REFERENCE
    assert re.match(r"\d{4}-\d{2}-\d{2}T", stamp["date"]) and stamp["cpu"]["name"] and stamp["cpu"]["llvm"]
    (tmp_path / "a.py").write_text("x = 2\n")
    assert measurement_stamp(None)["commit"] == f"{rev}-dirty"
    config = tmp_path / "config"
    config.mkdir()
    (config / "models.json").write_text(json.dumps(one_path_manifest({name: {
        "file": f"{name}.so", "sha256": "0", "cpu": "znver4", "isa_class": "avx512", "records": records,
        "records_class": "avx512"} for name, records in (("detector", "znver5"), ("recognizer", "avx512"))})))
    stamp = measurement_stamp(config)
    assert stamp["isa_class"] == "avx512" and stamp["records"] == {
        "detector": {"folder": "znver5", "class": "avx512"}, "recognizer": {"folder": "avx512", "class": "avx512"}}


def test_the_tuning_line_says_how_many_convs_run_in_int8():
    from frvt_submission.docs import tuning_summary

    entry = {"tuned": True, "records": "avx2", "records_class": "avx2", "graph_passes": ["cancel_permutes"]}
    assert "int8" not in tuning_summary(entry) and "int8" not in tuning_summary({**entry, "int8_convs": 0})
    assert "; 13 conv(s) in int8; graph passes cancel_permutes" in tuning_summary({**entry, "int8_convs": 13})
