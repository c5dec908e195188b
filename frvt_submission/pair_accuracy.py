"""docs/measurements.md's table of every model pair's accuracy (the project's settings and each profile), beside its onnxruntime reference."""

from __future__ import annotations

from pathlib import Path

from . import paths
from .measurements import _table, eval_json_name, read_measurement, stamp_line

PAIRS_HOW = ("`frvt --settings FILE eval ../shared/data/*/pairs.csv` and the same with `--backend onnxruntime`, "
             "for frvt.toml and each `profiles/*.toml`")
HEADERS = ["set", "backend", "FTE/images", "acc@thr", "best acc @ cos", "FNMR@FMR=1e-2",
           "FNMR@FMR=1e-3"]
# The columns taken from each eval file's "listed" table (evaluate.SUMMARY_HEADERS), by name.
TAKEN = ["FTE/images", "acc@thr", "best acc @ cos", "FNMR@FMR=1e-2", "FNMR@FMR=1e-3"]
# The figures compared with the reference's, and which way is better (+1: higher).
COMPARED = {"acc@thr": 1, "best acc @ cos": 1, "FNMR@FMR=1e-2": -1, "FNMR@FMR=1e-3": -1}


def settings_files() -> list[Path]:
    """The project's settings and every ready-made profile, in a stable order."""
    return [paths.SETTINGS_FILE] + sorted((paths.ROOT / "profiles").glob("*.toml"))


def _rows(data: dict, backend: str) -> list[list]:
    listed = data.get("listed") or {}
    at = {h: i for i, h in enumerate(listed.get("headers", []))}
    if not all(h in at for h in ["set", *TAKEN]):
        return []
    return [[row[at["set"]], backend, *(row[at[h]] for h in TAKEN)] for row in listed.get("rows", [])]


def _percent(cell) -> float | None:
    """The leading percentage of a cell ("97.58% @ 0.388" -> 97.58); None for "n/a"."""
    text = str(cell).split("%")[0]
    try:
        return float(text)
    except ValueError:
        return None


def worse_than_reference(rows: list[list]) -> list[str]:
    """Each figure where the build (tvm) is worse than its reference (onnxruntime) on the same set,
    as "set figure (tvm against reference)"."""
    idx = {h: i for i, h in enumerate(HEADERS)}
    by_set: dict[str, dict[str, list]] = {}
    for r in rows:
        by_set.setdefault(r[0], {})[r[1]] = r
    found = []
    for name, pair in by_set.items():
        if set(pair) != {"tvm", "onnxruntime"}:
            continue
        for figure, better in COMPARED.items():
            a, b = (_percent(pair[k][idx[figure]]) for k in ("tvm", "onnxruntime"))
            if a is not None and b is not None and (a - b) * better < 0:
                found.append(f"{name} {figure} ({pair['tvm'][idx[figure]].split(' @')[0]} against "
                             f"{pair['onnxruntime'][idx[figure]].split(' @')[0]})")
    return found


def pairs_section(files: list[Path] | None = None, log=print) -> list[str]:
    """One table per settings file: its compiled build's accuracy per shared set (tvm) and its
    reference's (onnxruntime on the same ONNX, with the same pre- and post-processing), each with
    its stamp. A pair whose files are missing says which command makes them."""
    lines = ["## Accuracy of each model pair", "",
             f"From {PAIRS_HOW}: `build/measurements/{eval_json_name('tvm')}` and "
             f"`{eval_json_name('onnxruntime')}` in each settings file's outputs (`out/<profile>/` for a "
             "profile). The pair's compiled build must be no worse than its own reference: under each "
             "table, the figures where it is, read from the table.", ""]
    for f in files or settings_files():
        outputs = paths.outputs_for(f)
        label = paths.shown(f)
        found = {}
        for backend in ("tvm", "onnxruntime"):
            path = outputs.measurements / eval_json_name(backend)
            data, line = read_measurement(path)
            log(line)
            if data is not None:
                found[backend] = data
        lines += [f"### {label}", ""]
        if not found:
            lines += [f"No eval files yet in `{outputs.shown()}/build/measurements/` (run {PAIRS_HOW}).", ""]
            continue
        rows = [r for backend, data in found.items() for r in _rows(data, backend)]
        rows.sort(key=lambda r: (r[0], r[1] != "tvm"))
        for backend in ("tvm", "onnxruntime"):  # each backend's stamp on a line of its own, then the table
            lines += [f"{backend}:", "", stamp_line(found[backend].get("stamp")) if backend in found else
                      "not measured yet", ""]
        lines += [_table(HEADERS, rows), ""]
        if set(found) == {"tvm", "onnxruntime"}:
            worse = worse_than_reference(rows)
            lines += ["Worse than its reference: " + ("; ".join(worse) if worse else "none") + ".", ""]
    return lines
