"""Settings files side by side: each has its own outputs and make stamps, each model its own tuning records."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time

import pytest

from frvt_submission import paths
from frvt_submission.cli import main

FOLDERS = ("config", "lib", "doc", "validation_output", "dist", "docs", "build", "compiled", "make_stamps",
           "settings_stamps", "measurements", "timing", "nist_validate", "report", "bench", "driver", "stand_in",
           "cmake_lib", "eval_library")


def _profile(folder, name: str, **submission):
    """A copy of frvt.toml in folder, with some [submission] values changed."""
    text = paths.SETTINGS_FILE.read_text()
    for key, value in submission.items():
        old = next(ln for ln in text.splitlines() if ln.startswith(f"{key} = "))
        text = text.replace(old, f'{key} = "{value}"')
    f = folder / f"{name}.toml"
    f.write_text(text)
    return f


def test_the_default_keeps_the_project_root_and_another_file_gets_a_root_of_its_own(tmp_path):
    a = paths.outputs_for(_profile(tmp_path, "alpha", company="alpha"))
    b = paths.outputs_for(_profile(tmp_path, "beta", company="beta"))
    default = paths.outputs_for(paths.SETTINGS_FILE)
    assert default.is_default and default.root == paths.ROOT
    # the NIST layout at the project root, and the make stamps where the Makefile kept them
    assert [getattr(default, f) for f in ("config", "lib", "doc", "validation_output", "dist", "make_stamps")] == \
        [paths.ROOT / p for p in ("config", "lib", "doc", "validation/output", "dist", "build/make")]
    assert a.root.parent == b.root.parent == paths.PROFILE_OUTPUTS
    assert a.root.name.startswith("alpha-") and b.root.name.startswith("beta-")
    # a ready-made profile's root is named after it alone
    assert paths.outputs_for(paths.PROFILES / "beta.toml").root == paths.PROFILE_OUTPUTS / "beta"
    for one, other in ((a, b), (b, a), (a, default), (b, default)):
        for f in FOLDERS:
            assert getattr(one, f).is_relative_to(one.root), f
            assert getattr(one, f) != getattr(other, f), f
            if not other.is_default:  # (out/ is inside the project root)
                assert not getattr(one, f).is_relative_to(other.root), (f, one, other)
    # and no default folder holds another file's output
    assert not any(getattr(a, f).is_relative_to(getattr(default, f)) for f in FOLDERS if f != "build")


def test_a_command_on_another_settings_file_writes_only_under_its_root(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "PROFILE_OUTPUTS", tmp_path / "out")
    roots = []
    for name, threshold in (("alpha", 0.6), ("beta", 0.7)):
        f = _profile(tmp_path, name)
        f.write_text(f.read_text().replace("score_threshold = 0.6", f"score_threshold = {threshold}"))
        assert main(["--settings", str(f), "stamps"]) == 0
        roots.append(paths.outputs_for(f).root)
        assert roots[-1].parent == tmp_path / "out"
        assert f"outputs: {roots[-1]} " in capsys.readouterr().out
    alpha, beta = (r / "build" / "settings" / "compile.json" for r in roots)
    assert '"score_threshold": 0.6' in alpha.read_text() and '"score_threshold": 0.7' in beta.read_text()
    assert main(["stamps", "--folder", str(tmp_path / "given")]) == 0  # the default: no outputs line
    assert "outputs:" not in capsys.readouterr().out


def test_two_settings_files_of_one_name_do_not_share_a_root(tmp_path):
    """Users' own ./frvt.toml files, each in its own folder."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = _profile(tmp_path / "a", "frvt"), _profile(tmp_path / "b", "frvt")
    assert paths.outputs_for(first) != paths.outputs_for(second)
    assert paths.outputs_for(first) == paths.outputs_for(tmp_path / "b" / ".." / "a" / "frvt.toml")
    assert [r.name.startswith("frvt-") for r in (paths.outputs_for(first).root, paths.outputs_for(second).root)] \
        == [True, True]


@pytest.mark.parametrize("stem", [".", ""])
def test_a_settings_file_whose_name_is_no_folder_name_is_refused(tmp_path, stem, capsys):
    f = tmp_path / f"{stem}.toml"
    f.write_text(paths.SETTINGS_FILE.read_text())
    assert main(["--settings", str(f), "config"]) == 2
    assert "no plain folder name" in capsys.readouterr().err


STEP_COMMANDS = ("frvt_submission", "validation/validate.sh")


def _plan(setup, *args):
    r = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(paths.ROOT), *args, f"STAMP={setup}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_make_stamps_of_one_settings_file_leave_the_other_s_steps_to_do(tmp_path):
    """make's stamps are under each file's root (under out/, made here and removed after): one
    file's done steps are not the other's."""
    setup = tmp_path / "setup-done"  # a set-up venv, so make never plans `make setup`
    setup.touch()
    a, b = _profile(tmp_path, "alpha", company="alpha"), _profile(tmp_path, "beta", company="beta")
    roots = [paths.outputs_for(f).root for f in (a, b)]
    assert [r.parent for r in roots] == [paths.PROFILE_OUTPUTS] * 2  # never the project root: removed below
    shown = [paths.outputs_for(f).shown() + "/" for f in (a, b)]
    try:
        later = time.time() + 1000  # newer than every source and the settings file
        built = paths.outputs_for(a)
        for folder, names in ((built.settings_stamps, ("compile.json", "build.json", "validate.json", "package.json")),
                              (built.make_stamps, ("compile", "build", "validate", "timing", "package"))):
            folder.mkdir(parents=True)
            for n in names:
                (folder / n).touch()
                os.utime(folder / n, (later, later))
        done = _plan(setup, "submission", f"SETTINGS={a}")
        assert not any(c in ln for ln in done.splitlines() for c in STEP_COMMANDS if "status" not in ln), done
        todo = _plan(setup, "submission", f"SETTINGS={b}")
        for step in ("compile", "build", "time", "package", "stamps"):
            assert f"--settings {b} {step}" in todo, todo
        assert f"into {shown[1]}config/" in todo and shown[0] not in todo
        assert _plan(setup, "clean", f"SETTINGS={b}").split() == ["rm", "-rf", shown[1]]
        assert _plan(setup, "clean").split() == ["rm", "-rf", "build", "config", "lib", "doc", "validation/output"]
    finally:
        for root in roots:
            if root.parent == paths.PROFILE_OUTPUTS:
                shutil.rmtree(root, ignore_errors=True)


def test_each_model_has_its_own_records_and_the_default_pair_s_are_found(settings):
    from frvt_submission.compile.build_models import compiled_specs, records_dir, records_name
    from frvt_submission.compile.tvm_build import has_records, records_model

    specs = compiled_specs(settings)
    names = [records_name(s) for s in specs]
    assert len(set(names)) == len(names)  # every size of the detector, and the recognizer
    other = dataclasses.replace(settings.detector, wheel="", member="", path="/models/retinaface_mnet025.onnx")
    assert records_name(other) != records_name(settings.detector)  # another detector: other records
    assert records_name(other) == "retinaface_mnet025_640x640"
    # the committed records of the default pair are found under the new names, for that very model
    for spec in specs:
        db = records_dir("avx2", records_name(spec))
        assert has_records(db) and records_model(db) == spec.sha256, db


@pytest.mark.parametrize("args, says", [
    (["submission", "SETTINGS=/no/such.toml"], "SETTINGS=/no/such.toml: no such file"),
    (["submission", "SETTINGS=a b.toml"], "make splits a path with spaces"),
    (["validate", "TIMING_CORE=4096"], "TIMING_CORE=4096: not a core of this machine"),
    (["timing", "TIMING_CORE=one"], "TIMING_CORE=one: not a core of this machine"),
    (["nist-validate", "FRVT_DIR=/no/such/folder"], "FRVT_DIR=/no/such/folder: no such folder"),
])
def test_make_refuses_a_bad_variable_before_any_step(tmp_path, args, says):
    """A missing SETTINGS file was make's own 'No rule to make target'; a bad TIMING_CORE or
    FRVT_DIR was found by the step using it, after compile and build had run."""
    setup = tmp_path / "setup-done"
    setup.touch()
    r = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(paths.ROOT), *args, f"STAMP={setup}"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and says in r.stderr and r.stdout == "", (r.stdout[-500:], r.stderr)

