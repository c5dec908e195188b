"""The stamped files the measuring commands leave, and docs/measurements.md made from them (`frvt measurements`)."""

from __future__ import annotations

import json
from pathlib import Path

from . import paths
from .docs import measurement_stamp

# The files' names; their folders are the settings file's outputs' (paths.Outputs: measurements,
# timing, validation_output, docs).
PARITY_JSON = "parity.json"  # frvt parity (and compile, which runs it)
EVAL_JSON = "eval.json"  # frvt eval


def eval_json_name(backend: str) -> str:
    """frvt eval's file for a backend: the compiled build's is EVAL_JSON, the reference's its own."""
    return EVAL_JSON if backend == "tvm" else f"eval-{backend}.json"


TIMING_JSON = "timing.json"  # frvt time, in its output folder
DOC = "measurements.md"
STAMP_START = "Measured at commit "  # every stamp line starts so (tests find them by it)


def bench_json(isa_class: str | None, folder: Path) -> Path:
    """frvt bench's file for the ISA class its TVM build was compiled for."""
    return folder / f"bench-{isa_class}.json"


def _plain(value):
    """numpy's numbers as JSON's (json knows float64, a float, but not int64)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def write_measurement(path: Path, data: dict, config_dir: Path | None) -> Path:
    """data and the stamp of what was measured (config_dir's build; None: the onnxruntime
    reference) as JSON at path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**data, "stamp": measurement_stamp(config_dir)}, indent=1, default=_plain) + "\n")
    return path


# -- reading ----------------------------------------------------------------------------------
def read_measurement(path: Path) -> tuple[dict | None, str]:
    """(the file's data, None when it is missing or unreadable) and a line saying which."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None, f"missing {path}"
    except (OSError, ValueError) as exc:
        return None, f"unreadable {path} ({exc}): treated as missing"
    if not isinstance(data, dict):
        return None, f"unreadable {path} (a JSON {type(data).__name__}, not a measurement's object): treated as missing"
    return data, f"read {path}"


def records_text(records) -> str:
    """The records each model used, grouped by records folder: "avx512 (recognizer), znver5 (detector)"."""
    if not records:
        return "not recorded"
    if isinstance(records, str):
        return records
    folders: dict[str, list[str]] = {}
    for model, r in records.items():
        folders.setdefault(str(r.get("folder") or "none"), []).append(model)
    return ", ".join(f"{folder} ({', '.join(models)})" for folder, models in folders.items())


def stamp_line(stamp: dict | None) -> str:
    """One sentence: commit, date, CPU, ISA class and records; what the stamp lacks says "not recorded"."""
    stamp = stamp or {}
    cpu = stamp.get("cpu") or {}
    date = str(stamp.get("date") or "")[:10] or "a date not recorded"
    isa = stamp.get("isa_class")
    return (f"{STAMP_START}{stamp.get('commit') or 'not recorded'} on {date}, {cpu.get('name') or 'CPU not recorded'} "
            f"({cpu.get('llvm') or 'LLVM CPU not recorded'}), {isa + ' class' if isa else 'ISA class not recorded'}, "
            f"records: {records_text(stamp.get('records'))}.")


def _table(headers, rows) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(path)


def _missing(path: Path, how: str) -> list[str]:
    """how: the command(s) to run, in markdown."""
    return [f"Not measured yet: run {how}; it writes `{_rel(path)}`.", ""]


def _source(path: Path, how: str) -> list[str]:
    return [f"From {how}: `{_rel(path)}`.", ""]


def _stamped_table(stamp: dict | None, headers, rows, note: str = "") -> list[str]:
    return [stamp_line(stamp), ""] + ([note, ""] if note else []) + [_table(headers, rows), ""]


# -- sections -----------------------------------------------------------------------------------
BACKENDS = {"onnxruntime": "onnxruntime, the reference (the ONNX models under onnxruntime, with the runtime's "
                           "pre- and post-processing)",
            "tvm": "tvm (the compiled config/ in one Python process)",
            "library": "library (lib/ + config/ through the NIST driver)"}
# The commands that write each file, in markdown.
PARITY_HOW = "`frvt parity` (or `frvt compile`, which runs it)"
EVAL_HOW = "`frvt eval ../shared/data/*/pairs.csv`"
VALIDATE_HOW = "`validation/validate.sh` (`make validate`)"
TIME_HOW = "`make timing` (`frvt time`)"
BENCH_HOW = "`make bench` (`make bench BENCH_ISA=avx2` for the avx2 class)"


def parity_section(data: dict | None, path: Path) -> list[str]:
    lines = ["## Parity: TVM against onnxruntime", ""]
    if data is None:
        return lines + _missing(path, PARITY_HOW)

    def px(v):
        return "n/a" if v is None else f"{v:.3f} px"

    rows = [[name, r.get("cpu", ""), r["images"], r["faces"], ", ".join(f"{w}x{h}" for w, h in r["sizes"]),
             "n/a" if r["min_cosine"] is None else f"{r['min_cosine']:.6f}", px(r["max_box_px"]),
             px(r["max_landmark_px"]), "ok" if r["ok"] else "FAIL"] for name, r in data["paths"].items()]
    rows += [[name, "", "", "", "", "", "", "", "not run: this CPU lacks its instructions"]
             for name in data.get("not_run", [])]
    return lines + _source(path, PARITY_HOW) + _stamped_table(
        data.get("stamp"), ["code path", "compiled for", "images", "faces", "detector sizes", "min embedding cosine",
                            "max box diff", "max landmark diff", "result"], rows,
        "The compiled models, loaded by the TVM runtime alone, against the cleaned fp32 ONNX under "
        "onnxruntime on the registry test images: the detector at each compiled size, the recognizer on "
        "the same aligned crop for both.")


def accuracy_section(data: dict | None, path: Path) -> list[str]:
    lines = ["## Accuracy", ""]
    if data is None:
        return lines + _missing(path, EVAL_HOW)
    stamp = data.get("stamp")
    sets = ", ".join(f"{name} (`{f}`)" for name, f in data.get("sets", {}).items())
    lines += _source(path, "`frvt eval`") + [
        f"Backend: {BACKENDS.get(data['backend'], data['backend'])}. Sets: {sets}." + (f" Only the first {data['limit']} pairs of each "
                                                        f"(--limit)." if data.get("limit") else ""), "",
        f"acc@thr is the accuracy at the recognizer's threshold (cosine {data['threshold']}), best acc the "
        "accuracy at the set's best threshold. FTE: images that gave no template; their pairs score -1, a "
        "non-match. FNMR at an FMR of f is n/a where the set has fewer than 1/f impostor pairs.", ""]
    for key, title, note in (
            ("listed", "Pairs as listed", ""),
            ("all_pairs", "Every pair of the listed images",
             "Identities from the id1/id2 columns or the folders; FNMR with its 95% Wilson interval."),
            ("lfw", "LFW View 2", "Each fold scored at the best threshold of the other folds."),
            ("library_check", "The library's templates against the Python path",
             "Per listed pair, lib/ through the NIST driver against the tvm backend in one process.")):
        if data.get(key):
            lines += [f"### {title}", ""] + _stamped_table(stamp, data[key]["headers"], data[key]["rows"], note)
    return lines


def _validation_text(data: dict) -> list[str]:
    out = [f"Result: {data.get('result')}, {len(data.get('errors', []))} error(s), "
           f"{len(data.get('warnings', []))} warning(s)."]
    if data.get("failure_to_enrol"):
        failed, faces = data["failure_to_enrol"]
        out.append(f"Failure to enrol: {failed} of {faces} images that hold a face.")
    scores = data.get("scores") or {}
    if scores.get("genuine") and scores.get("impostor"):
        (g_lo, g_hi, g_n), (i_lo, i_hi, i_n) = scores["genuine"], scores["impostor"]
        out.append(f"Scores: genuine {g_lo:.0f}..{g_hi:.0f} (n={g_n}), impostor {i_lo:.0f}..{i_hi:.0f} "
                   f"(n={i_n}).")
    if "nist_os_compatible" in data:
        out.append(f"{data.get('nist_os')}: lib/ needs at most {data.get('nist_os_needs')} -> "
                   f"{'fits' if data['nist_os_compatible'] else 'does NOT fit'}.")
    stand_in = (data.get("timing") or {}).get("stand_in")
    if stand_in:
        out.append(f"This CPU could not run config/: the driver phases and timing ran a stand-in built for "
                   f"{stand_in.get('built_for')}.")
    return [" ".join(out), ""] + [f"- {kind}: {text}" for kind in ("error", "warning")
                                  for text in data.get(kind + "s", [])] + [""]


def validation_section(data: dict | None, path: Path) -> list[str]:
    lines = ["## Validation", ""]
    if data is None:
        return lines + _missing(path, VALIDATE_HOW)
    lines += _source(path, VALIDATE_HOW) + [validation_stamp_line(data), ""]
    lines += _validation_text(data)
    phases = data.get("phases") or {}
    if phases.get("rows"):
        lines += [_table(phases["headers"], phases["rows"]), "",
                  "The inputs are real subjects: every registry and MEDS image is enrolled and verified; genuine "
                  "pairs are two different images of one subject, impostors two subjects. Non-zero codes in the "
                  "enrolment phases are NIST's edge images without a face (black, white, 7x9 pixels), as NIST "
                  "expects. \"max threads\" counts the driver's process tree: the parent and its one forked "
                  "child. The config check passes the renamed, read-only folder by its relative name, as NIST "
                  "does.", ""]
    else:
        lines += ["No phase table recorded (`validate` prints it as it runs).", ""]
    return lines


def validation_stamp_line(data: dict) -> str:
    """summary.json's stamp; one written before stamps existed still has its date and CPU."""
    return stamp_line(data.get("stamp") or {"date": data.get("finished"),
                                            "cpu": {"name": (data.get("build_host") or {}).get("cpu")}})


TIMING_NOTE = ("One process pinned to one core makes single-image `createFaceTemplate` calls through the C++ "
               "interface, `std::chrono` around each, as NIST times. The stages come from the library's "
               "`frvt11_ext_last_stages` extension: \"resize\" shrinks an image larger than the detector's "
               "input, once, by exact 2x halvings and then area averaging as OpenCV's INTER_AREA (`downscale = "
               "\"area\"`: every source pixel counts, where bilinear shrinking skips most of a large photo's), "
               "in the compiled kernels of `config/<path>/resample.so`, and is near 0 for an image that fits; "
               "\"detect\" includes the detector's decoding and NMS and, for faces that score low upright, the "
               "other orientations tried; \"refine\" detects a small face again on its enlarged region; "
               "\"bridge\" is the C++ call's time minus the Python time.")


def _timing_tables(stamp_text: str, t: dict) -> list[str]:
    from .validation.timing import STAGE_HEADERS, TIMING_HEADERS

    lines = [stamp_text, "", _table(TIMING_HEADERS, t["table"]), ""]
    if t.get("stages"):
        lines += [_table(STAGE_HEADERS, t["stages"]), ""]
    facts = [f"matchTemplates {t['match_us']:.3f} us per call"]
    if "threads" in t:
        facts.append(f"threads {t['threads']}")
    if "peak_rss_mb" in t:
        facts.append(f"peak RSS {t['peak_rss_mb']:.0f} MB")
    if "init_ms" in t:
        facts.append(f"initialize() {t['init_ms']:.0f} ms (starts the interpreter, loads the models and runs "
                     f"each once on a blank input), RSS after it {t['init_rss_mb']:.0f} MB")
    budget = t.get("budget")
    if budget:
        facts.append(f"budget {budget['template_ms']} ms per template, {budget['match_ms'] * 1000:.0f} us per "
                     f"match -> {'FAIL' if t.get('errors') else 'PASS'}")
    return lines + ["; ".join(facts) + ".", ""]


def timing_section(timing: dict | None, timing_path: Path, summary: dict | None, summary_path: Path) -> list[str]:
    lines = ["## Timing", "", TIMING_NOTE, "", "### `make timing` (`frvt time`)", ""]
    if timing is None:
        lines += _missing(timing_path, TIME_HOW)
    else:
        lines += _source(timing_path, TIME_HOW)
        lines += [f"{timing['images']} images ({timing['large']} of them enlarged to 3000x4500) x "
                  f"{timing['repeats']} calls, pinned to core {timing['core']}"
                  + (", on a stand-in config/ built for this host" if timing.get("stand_in") else "") + ".", ""]
        lines += _timing_tables(stamp_line(timing.get("stamp")), timing)
    lines += ["### Validation's timing phase", ""]
    t = (summary or {}).get("timing") or {}
    if "table" not in t:
        return lines + _missing(summary_path, VALIDATE_HOW)
    return lines + _source(summary_path, VALIDATE_HOW) + _timing_tables(validation_stamp_line(summary), t)


def bench_headline(r: dict) -> list:
    """[TVM tuned ms, fastest peer, its ms, ratio, rounds' ratios] of a bench run's end-to-end rows."""
    from .benchmark import PEERS

    e2e = dict((name, ms) for name, ms in r["e2e"])
    peers = {name: ms for name, ms in e2e.items() if name in PEERS}
    tvm = e2e.get("TVM tuned")
    if not peers or tvm is None:
        return ["n/a", "n/a", "n/a", "n/a", ""]
    best = min(peers, key=peers.get)
    return [f"{tvm:.1f}", best, f"{peers[best]:.1f}", f"{tvm / peers[best]:.2f}",
            ", ".join(f"{x:.2f}" for x in r.get("round_ratios") or [])]


def peers_section(benches: list[tuple[Path, dict]], bench_dir: Path) -> list[str]:
    lines = ["## Peers", "", "Every engine's tables, per ISA class: [benchmark.md](benchmark.md) (`make bench`). "
             "Here each run's headline: template creation end to end, TVM tuned against the fastest of "
             "onnxruntime, OpenVINO and OpenVINO on the image-input graph, in one run (a shared host's speed "
             "drifts, so only ratios within a run mean anything).", ""]
    if not benches:
        return lines + _missing(bench_json("<class>", bench_dir), BENCH_HOW)
    for path, r in benches:
        isa = (r.get("build") or {}).get("isa_class")
        lines += [f"### {isa} class", ""] + _source(path, "`make bench`") + _stamped_table(
            r.get("stamp"), ["TVM tuned ms", "fastest peer", "its ms", "ratio", "each round's ratio"],
            [bench_headline(r)])
    return lines


INTRO = ("Made by `frvt measurements` (`make docs`) from the files the measuring commands leave; not edited "
         "by hand: rerun a command, then `make docs`. Each table follows its stamp: the commit measured (`-dirty`: with changes no "
         "commit has), the date, the CPU (model name and LLVM CPU), the ISA class of the code measured and the "
         "tuning records (`tuning/<folder>/`) each compiled model used. Times are medians.")
ELSEWHERE = ["## Not in this file", "",
             "These print their figures and leave no file: `python -m frvt_submission.stage_times` (each stage "
             "with the compiled resampling kernels, numpy and OpenCV; `--same-on ../shared/data` checks they "
             "give the same template bytes), `python -m frvt_submission.kernel_times` (each model kernel in a "
             "model run and alone), `frvt scale` (embedding over Dask workers) and `pytest "
             "tests/test_hostile.py` (the code each hostile input gets through the C++ interface).", ""]


def make_document(parity: Path, eval_json: Path, validation: Path, timing: Path, bench_dir: Path,
                  log=print, pairs: bool = False) -> str:
    """The document from the files at these paths; log names each file read or missing. pairs: with
    the accuracy of every model pair (the project's document; a profile's has its own pair only)."""
    from .validation.summary import SUMMARY_FILE

    def load(path):
        data, line = read_measurement(path)
        log(line)
        return data

    def fits(path, make, *args) -> bool:
        """Whether make can write its lines from path's data (args): another command's file given
        in its place, or a hand-edited one, counts as missing rather than ending in a traceback."""
        try:
            make(*args)
            return True
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            log(f"{path} is not the file this section reads ({type(exc).__name__}: {exc}): treated as missing")
            return False

    summary_path = validation / SUMMARY_FILE
    p, e, s, t = load(parity), load(eval_json), load(summary_path), load(timing)
    p = p if p is None or fits(parity, parity_section, p, parity) else None
    e = e if e is None or fits(eval_json, accuracy_section, e, eval_json) else None
    s = s if s is None or fits(summary_path, validation_section, s, summary_path) else None
    s_timing = s if s is None or fits(summary_path, timing_section, None, timing, s, summary_path) else None
    t = t if t is None or fits(timing, timing_section, t, timing, s_timing, summary_path) else None
    benches = [(f, r) for f in sorted(bench_dir.glob(bench_json("*", bench_dir).name))
               if (r := load(f)) is not None and fits(f, peers_section, [(f, r)], bench_dir)]
    if not benches:
        log(f"missing {bench_json('<class>', bench_dir)}")
    lines = ["# Measurements", "", INTRO, ""]
    lines += parity_section(p, parity) + accuracy_section(e, eval_json)
    if pairs:
        from .pair_accuracy import pairs_section

        lines += pairs_section(log=log)
    lines += validation_section(s, summary_path)
    lines += timing_section(t, timing, s_timing, summary_path) + peers_section(benches, bench_dir) + ELSEWHERE
    return "\n".join(lines).rstrip() + "\n"
