"""Read the driver's logs by column name and apply NIST's checks (errors and warnings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frvt_runtime.errors import ReturnCode

HEADERS = {
    "template": "id image templateSizeBytes returnCode isLeftEyeAssigned isRightEyeAssigned xleft yleft xright yright",
    "multi": "id image templateSizeBytes returnCode numDetections detectionIndex isLeftEyeAssigned "
             "isRightEyeAssigned xleft yleft xright yright",
    "match": "enrollTempl verifTempl simScore returnCode",
}
UNKNOWN_ERROR = str(int(ReturnCode.UnknownError))


@dataclass
class Check:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: int = 0
    nonzero: int = 0


def read_log(path: Path, kind: str) -> list[dict[str, str]]:
    lines = path.read_text().splitlines() if path.is_file() else []
    if not lines:
        return []
    header = lines[0].split()
    return [dict(zip(header, ln.split())) for ln in lines[1:] if ln.strip()] if lines[0] == HEADERS[kind] else \
        [{"__bad_header__": lines[0]}]


def expected_rows(input_list: Path, kind: str) -> int:
    lines = [ln.split() for ln in input_list.read_text().splitlines() if ln.strip()]
    if kind == "template":
        return sum((len(w) - 1) // 2 for w in lines)  # one row per image
    return len(lines)


def check_log(path: Path, kind: str, input_list: Path | None, exact_rows: bool = True) -> Check:
    c = Check()
    rows = read_log(path, kind)
    if rows and "__bad_header__" in rows[0]:
        c.errors.append(f"{path.name}: header is {rows[0]['__bad_header__']!r}, expected {HEADERS[kind]!r}")
        return c
    c.rows = len(rows)
    if input_list is not None:
        want = expected_rows(input_list, kind)
        if (c.rows != want) if exact_rows else (c.rows < want):
            c.errors.append(f"{path.name}: {c.rows} rows for {want} input entries")
    c.nonzero = sum(r.get("returnCode") != "0" for r in rows)
    if c.nonzero:
        c.warnings.append(f"{path.name}: {c.nonzero} rows with a non-zero return code")
    # A chosen outcome has its own code (no face: FaceDetectionError); UnknownError is what an
    # exception the core did not raise on purpose becomes (frvt_runtime.service.error_status), or
    # a C++ one: a bug, however few images it hits.
    unknown = [r for r in rows if r.get("returnCode") == UNKNOWN_ERROR]
    if unknown:
        first = ", ".join(" ".join(list(r.values())[:2]) for r in unknown[:3])
        c.errors.append(f"{path.name}: {len(unknown)} rows with returnCode {UNKNOWN_ERROR} (UnknownError: an exception "
                        f"inside the library, not an outcome it chose), e.g. {first}")
    if kind == "match" and rows:
        scores = [r["simScore"] for r in rows]
        distinct = sum(a != b for a, b in zip(scores, scores[1:])) + 1
        if distinct < 0.5 * len(scores):
            c.warnings.append(f"{path.name}: only {distinct} of {len(scores)} consecutive scores differ")
        bad = [r for r in rows if float(r["simScore"]) < 0 and r["returnCode"] == "0"]
        if bad:
            c.errors.append(f"{path.name}: {len(bad)} negative scores with returnCode 0")
    return c


def failure_to_enrol(log: Path, input_list: Path, max_rate: float) -> Check:
    """Enrolments that gave no template (non-zero returnCode) among the images that hold a face
    (listed as facemugshot; the edge cases, faceunknown, may hold none): an error above max_rate."""
    c = Check()
    with_face = {w[0] for w in (ln.split() for ln in input_list.read_text().splitlines())
                 if len(w) >= 3 and w[2] == "facemugshot"}
    rows = [r for r in read_log(log, "template") if r.get("id") in with_face]
    c.rows, c.nonzero = len(rows), sum(r.get("returnCode") != "0" for r in rows)
    rate = c.nonzero / c.rows if c.rows else 0.0
    if rate > max_rate:
        failed = sorted(r["id"] for r in rows if r.get("returnCode") != "0")
        c.errors.append(f"{log.name}: {c.nonzero} of {c.rows} images that hold a face got no template "
                        f"({100 * rate:.1f}% > max_failure_to_enrol {100 * max_rate:.1f}%: "
                        f"{', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''})")
    return c


@dataclass
class Scores(Check):
    summary: str = ""
    ranges: dict = field(default_factory=dict)


def template_codes(out: Path, stems: tuple[str, ...] = ("enroll", "verif", "enroll_multi")) -> dict[str, str]:
    """Template id -> returnCode of the call that wrote the template file last."""
    return {r["id"]: r["returnCode"] for stem in stems for r in read_log(out / f"{stem}.log", "template")
            if "id" in r}


def check_scores(out: Path, inputs) -> Scores:
    """What NIST's reviewers look at: for each subject, its genuine scores (two different images of
    it) above its impostor scores (another subject), over templates that were created (code 0)."""
    c = Scores()
    codes = template_codes(out)
    logged = {(Path(r["enrollTempl"]).stem, Path(r["verifTempl"]).stem): float(r["simScore"])
              for r in read_log(out / "match.log", "match") if "simScore" in r}
    per_subject: dict[str, dict[str, list[float]]] = {}
    by_enrolled: dict[str, dict[str, list[float]]] = {}
    skipped = 0
    for (e, v), (sid, kind) in inputs.pair_kinds.items():
        if (e, v) not in logged:
            c.errors.append(f"match.log: no score for the planned pair {e} {v}")
            continue
        if codes.get(e) != "0" or codes.get(v) != "0":
            skipped += 1  # a failure template scores as such by design; it says nothing about ranking
            continue
        per_subject.setdefault(sid, {}).setdefault(kind, []).append(logged[(e, v)])
        by_enrolled.setdefault(e, {}).setdefault(kind, []).append(logged[(e, v)])
    genuine = [x for d in per_subject.values() for x in d.get("genuine", [])]
    impostor = [x for d in per_subject.values() for x in d.get("impostor", [])]
    c.rows = len(genuine) + len(impostor)
    if not genuine or not impostor:
        c.errors.append(f"scores: {len(genuine)} genuine and {len(impostor)} impostor pairs of created templates; "
                        f"validation needs both")
        c.summary = "no genuine/impostor pairs to compare"
        return c
    inverted = [sid for sid, d in per_subject.items() if d.get("genuine") and d.get("impostor")
                and float(np.median(d["genuine"])) <= float(np.median(d["impostor"]))]
    if inverted:
        c.errors.append(f"scores: for {len(inverted)} of {len(per_subject)} subjects the median genuine score is "
                        f"not above the median impostor score ({', '.join(sorted(inverted)[:5])}): "
                        f"the scores do not separate identities")
    crossed = [e for e, d in by_enrolled.items() if d.get("genuine") and d.get("impostor")
               and max(d["genuine"]) <= max(d["impostor"])]
    if crossed:
        c.warnings.append(f"scores: {len(crossed)} enrolled templates score an impostor at least as high as "
                          f"their genuine match ({', '.join(sorted(crossed)[:5])})")
    c.ranges = {"genuine": [min(genuine), max(genuine), len(genuine)],
                "impostor": [min(impostor), max(impostor), len(impostor)], "skipped_failed_templates": skipped}
    c.summary = (f"genuine {min(genuine):.0f}..{max(genuine):.0f} (n={len(genuine)}), "
                 f"impostor {min(impostor):.0f}..{max(impostor):.0f} (n={len(impostor)})"
                 + (f", {skipped} pairs with a failed template left out" if skipped else ""))
    return c
