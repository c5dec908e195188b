"""The built library driven from the NIST-style C++ driver: templates, forks, matching, failures."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from frvt_submission import paths
from frvt_runtime.config_dir import running_path

from conftest import edited_runtime_module

ROOT = paths.ROOT


def drive(built, action, input_rows, out: Path, config=None, forks=1, role="enroll", env_extra=None):
    out.mkdir(parents=True, exist_ok=True)
    lst = out / f"{action}_{role}.txt"
    lst.write_text("\n".join(input_rows) + "\n")
    stem = {"createTemplate": role, "createMultiTemplates": "verif_multiperson", "match": "match"}[action]
    cmd = [str(built["driver"]), action, "-c", str(config or paths.DEFAULT_OUTPUTS.config), "-o", str(out), "-h", stem,
           "-i", str(lst), "-t", str(forks), "-j", str(out)]
    if action == "createTemplate":
        cmd[2:2] = ["-x", role]
    env = {"LD_LIBRARY_PATH": str(built["lib"].parent), "PATH": "/usr/bin:/bin", **(env_extra or {})}
    r = subprocess.run(cmd, env=env, cwd=out, capture_output=True, text=True)
    rows = []
    log = out / f"{stem}.log"
    if log.is_file():
        lines = log.read_text().splitlines()
        rows = [dict(zip(lines[0].split(), ln.split())) for ln in lines[1:]]
    return r, rows


@pytest.mark.parametrize("forks", [1, 2])
def test_enrol_and_match(built, ppm_images, tmp_path, forks):
    names = ["obama", "obama2", "obama3", "biden"]
    r, rows = drive(built, "createTemplate", [f"{n} {ppm_images[n]} facemugshot" for n in names], tmp_path,
                    forks=forks)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""  # the library is silent
    assert [row["id"] for row in rows] == names
    for row in rows:
        assert row["returnCode"] == "0" and row["isLeftEyeAssigned"] == "1"
        assert int(row["xleft"]) > int(row["xright"])  # subject's left eye is on the image right
        assert int(row["templateSizeBytes"]) == 16 + 4 * 128
    pairs = [f"{tmp_path / 'obama.template'} {tmp_path / 'obama3.template'}",
             f"{tmp_path / 'obama.template'} {tmp_path / 'biden.template'}"]
    r, m = drive(built, "match", pairs, tmp_path / "m", forks=forks)
    assert r.returncode == 0, r.stderr
    genuine, impostor = float(m[0]["simScore"]), float(m[1]["simScore"])
    assert 0 <= impostor < genuine <= 1e6
    assert {row["returnCode"] for row in m} == {"0"}


def test_a_small_face_is_refined_inside_the_library(built, ppm_images, reference_pipeline, settings, tmp_path):
    """A face under small_face_px goes through the refinement (enlarged with resize_linear, whose
    np.unique imports numpy.ma) in the bundled interpreter: a real template that matches the same
    person's. The other library tests only see large faces; a lib/ whose numpy.ma failed to
    import passed them all."""
    from frvt_runtime.resample import resize_area
    from frvt_submission.imagefile import read_image
    from frvt_submission.validation.inputs import write_pnm

    photo = read_image(ppm_images["obama"])
    width = reference_pipeline.find_faces(photo)[0].box[2]
    f = 0.6 * settings.pipeline.small_face_px / width
    small = resize_area(photo, (round(photo.shape[1] * f), round(photo.shape[0] * f)))
    frame = np.full((max(360, small.shape[0] + 40), max(360, small.shape[1] + 40), 3), 128, np.uint8)
    frame[20:20 + small.shape[0], 20:20 + small.shape[1]] = small
    faces = reference_pipeline.find_faces(frame)
    assert faces and faces[0].box[2] < settings.pipeline.small_face_px  # the refinement's case
    image = write_pnm(frame, tmp_path / "small")
    r, rows = drive(built, "createTemplate", [f"s {image} facewild", f"o {ppm_images['obama3']} facemugshot",
                                              f"b {ppm_images['biden']} facemugshot"], tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert [(row["returnCode"], row["templateSizeBytes"]) for row in rows] == [("0", "528")] * 3
    r, m = drive(built, "match", [f"{tmp_path / 's.template'} {tmp_path / 'o.template'}",
                                  f"{tmp_path / 's.template'} {tmp_path / 'b.template'}"], tmp_path / "m")
    assert r.returncode == 0 and {row["returnCode"] for row in m} == {"0"}
    assert float(m[0]["simScore"]) > float(m[1]["simScore"])


def test_failure_templates_and_edge_images(built, tmp_path):
    black = tmp_path / "black.ppm"
    black.write_bytes(b"P6\n64 48\n255\n" + bytes(64 * 48 * 3))
    tiny = tmp_path / "tiny.pgm"
    tiny.write_bytes(b"P5\n7 9\n255\n" + bytes(range(63)))
    r, rows = drive(built, "createTemplate", [f"b {black} faceunknown", f"t {tiny} faceunknown"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert [row["returnCode"] for row in rows] == ["8", "8"]  # FaceDetectionError, templates still written
    assert all(row["isLeftEyeAssigned"] == "0" for row in rows)
    r, m = drive(built, "match", [f"{tmp_path / 'b.template'} {tmp_path / 't.template'}"], tmp_path / "m")
    assert r.returncode == 0
    assert float(m[0]["simScore"]) == -1 and m[0]["returnCode"] == "7"  # VerifTemplateError


def test_multi_image_and_multi_person(built, ppm_images, tmp_path):
    row = f"p {ppm_images['obama']} facemugshot {ppm_images['obama2']} facemugshot {ppm_images['obama3']} facewild"
    r, rows = drive(built, "createTemplate", [row], tmp_path)
    assert r.returncode == 0 and len(rows) == 3 and {x["returnCode"] for x in rows} == {"0"}
    r, rows = drive(built, "createMultiTemplates", [f"mp {ppm_images['biden']} faceunknown"], tmp_path / "mp")
    assert r.returncode == 0, r.stderr
    assert rows[0]["id"] == "mp_0" and rows[0]["numDetections"] == str(len(rows))
    assert (tmp_path / "mp" / "mp_0.template").is_file()


def test_renamed_read_only_config(built, ppm_images, tmp_path):
    cfg = tmp_path / "dir with spaces" / "Xq3ZpL0aBc9dEf1GhIjK"
    shutil.copytree(paths.DEFAULT_OUTPUTS.config, cfg)
    for p in [cfg, *cfg.rglob("*")]:
        p.chmod(0o550 if p.is_dir() else 0o440)
    before = sorted((p.name, p.stat().st_mtime) for p in cfg.rglob("*"))
    r, rows = drive(built, "createTemplate", [f"o {ppm_images['obama']} facemugshot"], tmp_path / "o", config=cfg)
    assert r.returncode == 0 and rows[0]["returnCode"] == "0", r.stderr
    assert sorted((p.name, p.stat().st_mtime) for p in cfg.rglob("*")) == before  # nothing written


def test_initialize_failures_are_config_errors(built, ppm_images, tmp_path):
    row = [f"o {ppm_images['obama']} facemugshot"]
    r, _ = drive(built, "createTemplate", row, tmp_path / "a", config=tmp_path / "missing")
    assert r.returncode == 1 and "initialize() returned 2" in r.stderr and "not found" in r.stderr
    bad = tmp_path / "corrupt"
    shutil.copytree(paths.DEFAULT_OUTPUTS.config, bad)
    detector = bad / running_path(bad) / "detector.so"  # the code path this CPU runs
    data = bytearray(detector.read_bytes())
    data[len(data) // 2] ^= 0xFF
    detector.write_bytes(bytes(data))
    r, _ = drive(built, "createTemplate", row, tmp_path / "b", config=bad)
    assert r.returncode == 1 and "initialize() returned 2" in r.stderr and "SHA-256" in r.stderr


@pytest.mark.parametrize("raised,code", [("RuntimeError('injected')", 1),
                                         ("MemoryError('injected')", 13)])
def test_python_exception_inside_a_call(built, ppm_images, tmp_path, raised, code):
    """A Python error in createFaceTemplate (raised in find_faces of a lib/ copy) becomes an error
    status, UnknownError or MemoryError, with a failure template; the process carries on.
    (initialize() runs the models without find_faces, so it still succeeds.)"""
    lib = tmp_path / "lib"
    subprocess.run(["cp", "-al", str(built["lib"].parent), str(lib)], check=True)
    anchor = '        small, scale = self._timed("resize", shrink_to_fit'
    edited_runtime_module(lib, "pipeline", lambda text: text.replace(anchor, f"        raise {raised}\n{anchor}"))
    names = ["obama", "biden"]
    r, rows = drive({"lib": lib / built["lib"].name, "driver": built["driver"]}, "createTemplate",
                    [f"{n} {ppm_images[n]} facemugshot" for n in names], tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert [row["returnCode"] for row in rows] == [str(code)] * 2  # both rows written
    assert all(int(row["templateSizeBytes"]) == 16 for row in rows)  # failure templates


def test_interpreter_that_cannot_start_is_not_success(built, ppm_images, tmp_path):
    """CFFI zero-fills results when the embedded init fails: that must read as an error."""
    lib = tmp_path / "lib"
    subprocess.run(["cp", "-al", str(built["lib"].parent), str(lib)], check=True)
    site = next(lib.glob("python/lib/python3*/site-packages"))
    shutil.rmtree(site / "frvt_runtime")
    r, _ = drive({"lib": lib / built["lib"].name, "driver": built["driver"]}, "createTemplate",
                 [f"o {ppm_images['obama']} facemugshot"], tmp_path / "o")
    assert r.returncode == 1 and "did not start" in r.stderr


def test_clean_environment_and_one_thread(built, ppm_images, tmp_path):
    """Only LD_LIBRARY_PATH=./lib, run from the submission root, as NIST does."""
    out = tmp_path / "o"
    out.mkdir()
    lst = out / "t.txt"
    lst.write_text(f"o {ppm_images['obama']} facemugshot\n")
    r = subprocess.run(["env", "-i", "LD_LIBRARY_PATH=./lib", str(built["driver"]), "timing", "-c", "./config", "-o",
              str(out), "-h", "timing", "-i", str(lst), "-m", "1000"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    header, values = (out / "timing_resources.log").read_text().splitlines()
    res = dict(zip(header.split(), values.split()))
    assert res["maxThreads"] == "1"
    # initialize() measured in the driver: it takes time and leaves the models resident.
    assert float(res["initMs"]) > 0 and 0 < int(res["initRssKB"]) <= int(res["peakRssKB"])
    assert (out / "timing.log").read_text().splitlines()[1].split()[5] == "0"  # returnCode column


@pytest.mark.parametrize("remove,needle", [("pipeline.json", "missing"), ("models.json", "missing"),
                                           ("{path}/recognizer.so", "missing model file"),
                                           ("weights.npz", "missing model file")])
def test_each_missing_config_file_is_a_config_error(built, ppm_images, tmp_path, remove, needle):
    cfg = tmp_path / "cfg"
    shutil.copytree(paths.DEFAULT_OUTPUTS.config, cfg)
    (cfg / remove.format(path=running_path(cfg))).unlink()
    r, _ = drive(built, "createTemplate", [f"o {ppm_images['obama']} facemugshot"], tmp_path / "o", config=cfg)
    assert r.returncode == 1 and "initialize() returned 2" in r.stderr and needle in r.stderr


def test_corrupt_pipeline_json_is_a_config_error(built, ppm_images, tmp_path):
    cfg = tmp_path / "cfg"
    shutil.copytree(paths.DEFAULT_OUTPUTS.config, cfg)
    (cfg / "pipeline.json").write_text('{"format": 1, "detector": {"colour": "XYZ"}}')
    r, _ = drive(built, "createTemplate", [f"o {ppm_images['obama']} facemugshot"], tmp_path / "o", config=cfg)
    assert r.returncode == 1 and "initialize() returned 2" in r.stderr


def test_templates_are_deterministic_across_processes(built, ppm_images, tmp_path):
    rows = [f"{n} {ppm_images[n]} facemugshot" for n in ("obama", "biden", "32bit")]
    r1, _ = drive(built, "createTemplate", rows, tmp_path / "a", forks=1)
    r2, _ = drive(built, "createTemplate", rows, tmp_path / "b", forks=3)
    assert r1.returncode == 0 and r2.returncode == 0
    for n in ("obama", "biden", "32bit"):
        assert (tmp_path / "a" / f"{n}.template").read_bytes() == (tmp_path / "b" / f"{n}.template").read_bytes()


def test_clean_room_hides_only_outermost_folders():
    """A venv inside the checkout (make setup's .venv) must not get its own mount."""
    from frvt_submission.validation.clean_room import outermost

    got = outermost({"/w/main", "/w/main/.venv", "/root/.pyenv/versions/3.11.7", "/w/mainline"})
    assert got == ["/root/.pyenv/versions/3.11.7", "/w/main", "/w/mainline"]


def test_clean_room_with_interpreter_venv_and_project_hidden(built, ppm_images):
    """lib/ + config/ copied elsewhere; pyenv/venv/project covered by empty mounts; still works."""
    from frvt_submission.validation.clean_room import run_clean_room

    status, detail = run_clean_room(paths.ROOT, built["driver"], [ppm_images["obama"], ppm_images["biden"]])
    if status == "skipped":
        pytest.skip(detail)
    assert status == "ok", detail
