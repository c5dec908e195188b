"""NIST-style timing statistics from the driver's timing logs: medians per size class, budgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def size_class(width: int, height: int) -> str:
    mp = width * height / 1e6
    if mp < 0.1:
        return "tiny (<0.1 MP)"
    if mp < 1.0:
        return "small (<1 MP)"
    if mp < 5.0:
        return "medium (1-5 MP)"
    return "large (>=5 MP)"


def _read(path: Path) -> list[list[str]]:
    lines = path.read_text().splitlines() if path.is_file() else []
    return [ln.split() for ln in lines[1:] if ln.strip()]


def summarise_timing(out: Path, budget_template_ms: float, budget_match_ms: float) -> dict:
    rows = _read(out / "timing.log")
    if not rows:
        return {"errors": ["timing log is empty"]}
    ms = np.array([float(r[4]) for r in rows])
    classes: dict[str, list[float]] = {}
    for r in rows:
        classes.setdefault(size_class(int(r[1]), int(r[2])), []).append(float(r[4]))
    table = [[c, len(v), f"{np.median(v):.1f}", f"{np.percentile(v, 90):.1f}", f"{max(v):.1f}"]
             for c, v in sorted(classes.items())]
    table.append(["all", len(ms), f"{np.median(ms):.1f}", f"{np.percentile(ms, 90):.1f}", f"{ms.max():.1f}"])
    match = _read(out / "timing_match.log")
    match_us = float(match[0][3]) if match else float("nan")
    res = _read(out / "timing_resources.log")
    threads, rss_kb = (int(res[0][0]), int(res[0][1])) if res else (0, 0)
    errors = []
    if np.median(ms) >= budget_template_ms:
        errors.append(f"median template time {np.median(ms):.1f} ms >= budget {budget_template_ms} ms")
    if not match or match_us / 1000 >= budget_match_ms:
        errors.append(f"match time {match_us:.2f} us per call >= budget {budget_match_ms * 1000:.0f} us")
    if threads > 1:
        errors.append(f"{threads} threads in the timing process (1 expected)")
    return {"table": table, "median_ms": float(np.median(ms)), "match_us": match_us, "threads": threads,
            "peak_rss_mb": rss_kb / 1024, "errors": errors}


TIMING_HEADERS = ["image size class", "calls", "median ms", "p90 ms", "max ms"]
