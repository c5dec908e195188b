"""make's view of frvt.toml: each step's stamp changes only when the settings that step reads change."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time

import pytest

from frvt_submission import paths
from frvt_submission.stamps import write_stamps


@pytest.mark.parametrize("change, steps", [
    (lambda s: dataclasses.replace(s, submission=dataclasses.replace(s.submission, budget_template_ms=900.0)),
     ["validate"]),
    (lambda s: dataclasses.replace(s, submission=dataclasses.replace(s.submission, gpg_key="ABCD")), ["package"]),
    (lambda s: dataclasses.replace(s, submission=dataclasses.replace(s.submission, sequence="002")), ["build"]),
    (lambda s: dataclasses.replace(s, submission=dataclasses.replace(s.submission, target="skylake-avx512")),
     ["compile"]),
    (lambda s: dataclasses.replace(s, detector=dataclasses.replace(s.detector, score_threshold=0.7)), ["compile"]),
    (lambda s: s, []),
])
def test_a_settings_change_touches_only_the_steps_that_read_it(settings, tmp_path, change, steps):
    assert write_stamps(settings, tmp_path) == ["compile", "build", "validate", "package"]
    before = {f.name: f.stat().st_mtime_ns for f in tmp_path.iterdir()}
    assert write_stamps(change(settings), tmp_path) == steps
    after = {f.name: f.stat().st_mtime_ns for f in tmp_path.iterdir()}
    assert sorted(n[:-5] for n in after if after[n] != before[n]) == sorted(steps)


def _make(tmp_path, *targets, dry=True):
    setup = tmp_path / "setup-done"  # a set-up venv, so make never plans (or runs) `make setup`
    setup.touch()
    return subprocess.run(["make", *(["-n"] if dry else []), "-C", str(paths.ROOT), *targets,
                           f"STAMP={setup}", f"DONE={tmp_path / 'done'}", f"SET={tmp_path / 'set'}"],
                          capture_output=True, text=True)


STEP_COMMANDS = ("frvt_submission compile", "frvt_submission build", "validation/validate.sh",
                 "frvt_submission time", "frvt_submission package")


def test_make_redoes_nothing_when_nothing_changed(tmp_path):
    """With every step's stamp newer than its inputs, `make -n submission` plans no step."""
    planned = _make(tmp_path, "submission").stdout
    assert all(c in planned for c in STEP_COMMANDS), planned  # nothing done yet: every step is planned
    r = _make(tmp_path, str(tmp_path / "set" / "compile.json"), dry=False)
    assert r.returncode == 0, r.stderr
    (tmp_path / "done").mkdir()
    for step in ("compile", "build", "validate", "timing", "package"):
        (tmp_path / "done" / step).touch()
    r = _make(tmp_path, "submission")
    assert r.returncode == 0, r.stderr
    assert not any(c in r.stdout for c in STEP_COMMANDS), r.stdout
    # lib/ built before the newest runtime source was saved: rebuild, revalidate, retime, repackage.
    newest = max(f.stat().st_mtime for f in (paths.ROOT / "frvt_runtime").glob("*.py"))
    os.utime(tmp_path / "done" / "build", (newest - 60, newest - 60))
    planned = _make(tmp_path, "submission").stdout
    assert [c in planned for c in STEP_COMMANDS] == [False, True, True, True, True], planned


def test_settings_goes_to_every_frvt_command_and_the_stamps_follow_that_file(tmp_path):
    """make read only frvt.toml: SETTINGS=FILE names another settings file for every step, and
    its stamps are made again when that file changes (not when frvt.toml does)."""
    other = tmp_path / "other.toml"
    other.write_text(paths.SETTINGS_FILE.read_text())
    planned = _make(tmp_path, "submission", f"SETTINGS={other}").stdout
    runs = [ln.split() for ln in planned.splitlines() if "-m frvt_submission " in ln or "validate.sh " in ln]
    assert all(r[-2:] == ["--settings", str(other)] for r in (r[:r.index(str(other)) + 1] for r in runs)), runs
    assert sorted(r[r.index(str(other)) + 1] for r in runs) == ["--core", "build", "compile", "package", "stamps",
                                                                 "status", "time"]  # --core: validate.sh's
    assert "--settings" not in _make(tmp_path, "submission").stdout  # unset: the commands' own rule

    (tmp_path / "set").mkdir()
    later = time.time() + 1000  # than the set-up stamp _make touches, and than frvt.toml
    for step in ("compile", "build", "validate", "package"):
        (tmp_path / "set" / f"{step}.json").touch()
        os.utime(tmp_path / "set" / f"{step}.json", (later, later))
    stamps = str(tmp_path / "set" / "compile.json")
    os.utime(other, (1e9, 1e9))  # older than the stamps
    assert "stamps" not in _make(tmp_path, stamps, f"SETTINGS={other}").stdout
    os.utime(other, (later + 1, later + 1))  # changed since they were written
    assert f"--settings {other} stamps" in _make(tmp_path, stamps, f"SETTINGS={other}").stdout
    assert "stamps" not in _make(tmp_path, stamps).stdout  # frvt.toml itself did not change
