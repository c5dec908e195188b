"""docs/measurements.md is made from stamped files, not typed: every table follows its stamp."""

import json
import re

import pytest

from frvt_submission import paths
from conftest import one_path_manifest

# commit, date, CPU (LLVM CPU), class, records: what a stamp line must carry ("not recorded" where
# a file written before stamps existed lacks one).
STAMP = re.compile(r"^Measured at commit (?P<commit>not recorded|\S+) on (?P<date>\d{4}-\d{2}-\d{2}|a date not recorded), "
                   r"(?P<cpu>.+?) \((?P<llvm>[^)]+)\), (?P<isa>.+?), records: (?P<records>.+)\.$")


# A line that reports a measurement: a table row, a result, or a number with a unit or a percent sign.
FIGURE = re.compile(r"^\||^Result:|\d (ms|us|MB|px)\b|\d%")


def unstamped_figures(text: str) -> list[str]:
    """The headings of the (sub)sections whose first figure (table, result, number with a unit) no
    stamp line precedes."""
    bad, heading, stamped, seen = [], "(top)", False, False
    for line in text.splitlines():
        if line.startswith("#"):
            heading, stamped, seen = line, False, False
        elif line.startswith("Measured at commit"):
            assert STAMP.match(line), f"a stamp line without commit, date, cpu or records: {line}"
            stamped = True
        elif FIGURE.search(line) and not seen:
            seen = True
            if not stamped:
                bad.append(heading)
    return bad


def _config(folder, records):
    """A config/ whose models.json says which records folder each model used."""
    folder.mkdir(parents=True)
    folder.joinpath("models.json").write_text(json.dumps(one_path_manifest({name: {
        "file": f"{name}.so", "sha256": "0", "cpu": "znver4", "isa_class": "avx512", "tuned": True,
        "records": rec, "records_class": "avx512"} for name, rec in records.items()})))
    return folder


@pytest.fixture
def artefacts(tmp_path):
    """Each measuring command's file, written by the real writers on small fake results."""
    from frvt_submission.evaluate import ALL_PAIRS_HEADERS, SUMMARY_HEADERS
    from frvt_submission.measurements import bench_json, write_measurement
    from frvt_submission.validation.summary import PHASE_HEADERS, write_summary
    from frvt_submission.validation.timing import STAGE_HEADERS, TIMING_HEADERS

    config = _config(tmp_path / "root" / "config", {"detector": "znver5", "recognizer": "avx512"})
    timing = {"table": [["small (<1 MP)", 3, "12.0", "13.0", "14.0"], ["all", 3, "12.0", "13.0", "14.0"]],
              "stages": [["detect", "6.00", "6.50", "7.00"]], "median_ms": 12.0, "match_us": 0.2, "threads": 1,
              "peak_rss_mb": 200.0, "init_ms": 300.0, "init_rss_mb": 100.0}
    assert len(TIMING_HEADERS) == 5 and len(STAGE_HEADERS) == 4  # (the rows above fit them)
    files = {
        "parity": write_measurement(tmp_path / "m" / "parity.json", {"paths": {"avx512": {
            "cpu": "skylake-avx512", "images": 7, "sizes": [[320, 320], [640, 640]], "faces": 9,
            "min_cosine": 0.999999, "max_box_px": 0.0, "max_landmark_px": 0.0, "ok": True}},
            "not_run": ["avx2"], "ok": True}, config),
        "eval": write_measurement(tmp_path / "m" / "eval.json", {
            "backend": "onnxruntime", "threshold": 0.363, "limit": 0, "sets": {"tiny": "tiny/pairs.csv"},
            "listed": {"headers": SUMMARY_HEADERS,
                       "rows": [["tiny", 2, "1/1", "0/2", "100.00%", "100.00% @ 0.500", "n/a", "n/a"]]},
            "all_pairs": {"headers": ALL_PAIRS_HEADERS, "rows": [["tiny", "2/2", 1, 1, 0] + ["n/a"] * 5]}}, None),
        "timing": write_measurement(tmp_path / "timing" / "timing.json", {
            **timing, "errors": [], "images": 1, "large": 0, "repeats": 3, "core": 0, "stand_in": None,
            "budget": {"template_ms": 1000, "match_ms": 0.1}}, config),
        "bench": write_measurement(bench_json("avx512", tmp_path / "m"), {
            "e2e": [["TVM tuned", 14.0], ["onnxruntime", 27.0], ["OpenVINO", 17.5], ["MNN", 44.0]],
            "round_ratios": [0.8, 0.78], "build": {"isa_class": "avx512"}}, config),
    }
    (tmp_path / "val").mkdir()
    write_summary(tmp_path / "val", tmp_path / "root", [], ["a warning"], {
        "ran_config": str(config), "phases": {"headers": PHASE_HEADERS,
                                              "rows": [["enroll, 1 process", 1, 130, 3, 2, "9.0", "warning"]]},
        "timing": timing})
    return tmp_path, files


def _document(tmp_path, files, capsys) -> tuple[str, str]:
    from frvt_submission.cli import main

    out = tmp_path / "tmp.md"
    assert main(["measurements", "--output", str(out), "--parity", str(files["parity"]), "--eval",
                 str(files["eval"]), "--validation", str(tmp_path / "val"), "--timing", str(files["timing"]),
                 "--bench-dir", str(files["bench"].parent), "--no-pairs"]) == 0
    return out.read_text(), capsys.readouterr().out


def test_every_table_follows_a_stamp_with_commit_date_cpu_and_records(artefacts, capsys):
    tmp_path, files = artefacts
    text, said = _document(tmp_path, files, capsys)
    for f in files.values():
        assert f"read {f}" in said
    assert f"wrote {tmp_path / 'tmp.md'}" in said
    assert "Not measured yet" not in text
    for title in ("## Parity", "### Pairs as listed", "### Every pair", "## Validation", "### `make timing`",
                  "### Validation's timing phase", "### avx512 class"):
        assert title in text
    assert unstamped_figures(text) == []
    stamps = [STAMP.match(ln) for ln in text.splitlines() if ln.startswith("Measured at commit")]
    assert len(stamps) == 7  # parity, eval's two tables, validation, its timing, make timing, bench
    build = "znver5 (detector), avx512 (recognizer)"
    assert {s["records"] for s in stamps} == {build, "onnxruntime reference"}
    assert all(s["commit"] != "not recorded" and s["cpu"] != "CPU not recorded" for s in stamps)
    assert "| 14.0 | OpenVINO | 17.5 | 0.80 | 0.80, 0.78 |" in re.sub(" +", " ", text)  # the fastest peer
    assert "| avx512 | skylake-avx512 | 7 | 9 | 320x320, 640x640 | 0.999999 |" in re.sub(" +", " ", text)


@pytest.mark.parametrize("given, wrong", [("parity", "eval"), ("eval", "parity"), ("timing", "bench"),
                                          ("parity", "[]"), ("eval", '{"stamp": 3}')])
def test_a_file_of_another_kind_counts_as_missing(artefacts, capsys, given, wrong):
    """Another command's file in a file's place (or JSON of no measurement's shape) ended the
    command in a KeyError or AttributeError; parity's empty table looked measured."""
    tmp_path, files = artefacts
    if wrong in files:
        files[given] = files[wrong]
    else:
        files[given] = tmp_path / "odd.json"
        files[given].write_text(wrong)
    text, said = _document(tmp_path, files, capsys)
    command = {"parity": "`frvt parity`", "eval": "`frvt eval", "timing": "`make timing`"}[given]
    assert f"Not measured yet: run {command}" in text
    assert f"{files[given]}" in said and "treated as missing" in said
    assert unstamped_figures(text) == []


def test_a_folder_names_the_file_its_command_writes_there(artefacts, capsys):
    """--timing build/timing (the folder `frvt time` writes to) was read as a file, so the document
    said "Not measured yet" beside the timing.json it holds."""
    tmp_path, files = artefacts
    text, said = _document(tmp_path, {**files, "timing": files["timing"].parent}, capsys)
    assert f"read {files['timing']}" in said and "### `make timing`" in text
    assert "Not measured yet" not in text


@pytest.mark.parametrize("gone", ["parity", "eval", "timing", "bench", "validation"])
def test_a_missing_file_says_which_command_makes_it(artefacts, capsys, gone):
    tmp_path, files = artefacts
    if gone == "validation":
        (tmp_path / "val" / "summary.json").unlink()
    else:
        files[gone].unlink()
    text, said = _document(tmp_path, files, capsys)
    command = {"parity": "`frvt parity`", "eval": "`frvt eval", "timing": "`make timing`",
               "bench": "`make bench`", "validation": "`validation/validate.sh`"}[gone]
    assert f"Not measured yet: run {command}" in text
    assert "missing " in said
    assert unstamped_figures(text) == []


def test_a_summary_from_before_stamps_keeps_its_date_and_cpu(artefacts, capsys):
    tmp_path, files = artefacts
    summary = tmp_path / "val" / "summary.json"
    data = json.loads(summary.read_text())
    del data["stamp"]
    summary.write_text(json.dumps(data))
    text, _ = _document(tmp_path, files, capsys)
    lines = [ln for ln in text.split("## Validation", 1)[1].splitlines() if ln.startswith("Measured at commit")]
    assert lines and lines[0].startswith(f"Measured at commit not recorded on {data['finished'][:10]}, ")
    assert unstamped_figures(text) == []


def test_a_validation_that_stops_early_leaves_a_stamped_summary(settings, tmp_path, capsys):
    """validate writes summary.json whatever happens (package's gate reads it): with its stamp and
    phase table too, here for a root without lib/ or doc/."""
    from frvt_submission.measurements import make_document
    from frvt_submission.validation.run import validate
    from frvt_submission.validation.summary import PHASE_HEADERS

    (tmp_path / "root").mkdir()
    _, errors, _, _ = validate(settings, tmp_path / "root", tmp_path / "out", [], lambda m: None)
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert errors and data["result"] == "failed" and data["phases"] == {"headers": PHASE_HEADERS, "rows": []}
    assert data["stamp"]["commit"] not in ("", "unknown") and data["stamp"]["records"].startswith("unknown (")
    text = make_document(tmp_path / "no", tmp_path / "no", tmp_path / "out", tmp_path / "no", tmp_path, print)
    assert "Result: failed" in text and "No phase table recorded" in text
    assert unstamped_figures(text) == []


def test_the_committed_document_stamps_every_table():
    text = (paths.ROOT / "docs" / "measurements.md").read_text()
    assert text.startswith("# Measurements\n\nMade by `frvt measurements`")
    assert "|" in text  # (figures were found)
    assert unstamped_figures(text) == []


def test_every_model_pair_is_shown_beside_its_reference(tmp_path, monkeypatch):
    """The pairs table reads each settings file's own eval files: its build (tvm) and its onnxruntime
    reference, per set, each stamped; a pair not evaluated yet says which command makes the files."""
    from frvt_submission import pair_accuracy, paths
    from frvt_submission.evaluate import SUMMARY_HEADERS
    from frvt_submission.measurements import STAMP_START, eval_json_name, write_measurement

    roots = {}
    monkeypatch.setattr(pair_accuracy.paths, "outputs_for", lambda f: roots.setdefault(f, paths.Outputs(tmp_path / f.stem)))
    done, todo = tmp_path / "pair-a.toml", tmp_path / "pair-b.toml"
    for backend, acc, fnmr in (("tvm", "97.10%", "4.83%"), ("onnxruntime", "97.00%", "4.35%")):
        rows = [["meds_openmpf", 414, "207/207", "0/113", acc, "97.58% @ 0.388", fnmr, "n/a"],
                ["orl_att", 3600, "1800/1800", "0/400", "99.64%", "99.72% @ 0.339", "0.28%", "1.06%"]]
        write_measurement(tmp_path / "pair-a" / "build" / "measurements" / eval_json_name(backend),
                          {"backend": backend, "listed": {"headers": SUMMARY_HEADERS, "rows": rows}}, None)
    text = "\n".join(pair_accuracy.pairs_section([done, todo], log=lambda m: None))
    rows = [ln for ln in text.splitlines() if ln.startswith("| meds_openmpf")]
    assert [r.split("|")[2].strip() for r in rows] == ["tvm", "onnxruntime"], text
    assert "97.10%" in rows[0] and "97.00%" in rows[1]
    assert text.count(STAMP_START) == 2
    # read from the table: the better accuracy and the equal set are not listed, the worse FNMR is
    assert "Worse than its reference: meds_openmpf FNMR@FMR=1e-2 (4.83% against 4.35%)." in text
    assert f"No eval files yet in `{tmp_path / 'pair-b'}/build/measurements/`" in text
    assert eval_json_name("tvm") == "eval.json" != eval_json_name("onnxruntime")
