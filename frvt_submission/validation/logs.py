"""Read the driver's logs by column name and apply NIST's checks (errors and warnings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HEADERS = {
    "template": "id image templateSizeBytes returnCode isLeftEyeAssigned isRightEyeAssigned xleft yleft xright yright",
    "multi": "id image templateSizeBytes returnCode numDetections detectionIndex isLeftEyeAssigned "
             "isRightEyeAssigned xleft yleft xright yright",
    "match": "enrollTempl verifTempl simScore returnCode",
}


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
    if kind == "match" and rows:
        scores = [r["simScore"] for r in rows]
        distinct = sum(a != b for a, b in zip(scores, scores[1:])) + 1
        if distinct < 0.5 * len(scores):
            c.warnings.append(f"{path.name}: only {distinct} of {len(scores)} consecutive scores differ")
        bad = [r for r in rows if float(r["simScore"]) < 0 and r["returnCode"] == "0"]
        if bad:
            c.errors.append(f"{path.name}: {len(bad)} negative scores with returnCode 0")
    return c
