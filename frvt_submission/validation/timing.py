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


# Longest side that puts a photo in a size class (aspect ratios 1:1 to 2:1 stay inside it).
CLASS_LONG_SIDE = {"tiny (<0.1 MP)": 300, "small (<1 MP)": 900, "medium (1-5 MP)": 2000}
LARGE = (3000, 4500)  # NIST's 3000x4500-class photos


def timing_inputs(folder: Path, n_images: int, n_large: int, log=print) -> Path:
    """Real photos as PPM: up to n_images (fewer when fewer are available; log says so), the first
    n_large enlarged to 3000x4500, and for each other size class none of the rest is in at its own
    size, one more: a photo rescaled into it (added, not in place of one, so that no class loses
    its only photo)."""
    import cv2

    from ..imagefile import read_image
    from .inputs import collect_sources, write_pnm

    folder.mkdir(parents=True, exist_ok=True)
    photos = [p for p, src in collect_sources([]) if src.name != "frvt_edge"]
    step = max(1, len(photos) // max(n_images, 1))
    images = [(p, read_image(p)) for p in photos[::step][:n_images]]
    if len(images) < n_images:
        log(f"timing: {len(images)} photos available (registry images, and ../shared/data when present), "
            f"not the {n_images} asked")
    own = {size_class(img.shape[1], img.shape[0]) for _, img in images[n_large:]}
    rows = []
    for i, (p, img) in enumerate(images):
        h, w = img.shape[:2]
        if i < n_large:
            size = LARGE if h >= w else LARGE[::-1]
            img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        rows.append((p, img))
    for k, c in enumerate(c for c in CLASS_LONG_SIDE if c not in own):
        p, img = images[(n_large + k) % len(images)]
        h, w = img.shape[:2]
        scale = CLASS_LONG_SIDE[c] / max(h, w)
        rows.append((p, cv2.resize(img, (round(w * scale), round(h * scale)),
                                   interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)))
    lst = folder / "timing.txt"
    lst.write_text("".join(f"t{i} {write_pnm(img, folder / f't{i:03d}_{p.stem}')} faceunknown\n"
                           for i, (p, img) in enumerate(rows)))
    return lst


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
    stage_table = stage_breakdown(rows)
    match = _read(out / "timing_match.log")
    match_us = float(match[0][3]) if match else float("nan")
    res = _read(out / "timing_resources.log")
    threads, rss_kb = (int(res[0][0]), int(res[0][1])) if res else (0, 0)
    # initialize(): wall ms and VmRSS (kB) right after it; a driver older than these columns has neither.
    init_ms, init_rss_kb = (float(res[0][2]), int(res[0][3])) if res and len(res[0]) >= 4 else (float("nan"), -1)
    errors = []
    if np.median(ms) >= budget_template_ms:
        errors.append(f"median template time {np.median(ms):.1f} ms >= budget {budget_template_ms} ms")
    if not match or match_us / 1000 >= budget_match_ms:
        errors.append(f"match time {match_us:.2f} us per call >= budget {budget_match_ms * 1000:.0f} us")
    if threads > 1:
        errors.append(f"{threads} threads in the timing process (1 expected)")
    return {"table": table, "stages": stage_table, "median_ms": float(np.median(ms)), "match_us": match_us, "threads": threads,
            "peak_rss_mb": rss_kb / 1024, "init_ms": init_ms,
            "init_rss_mb": init_rss_kb / 1024 if init_rss_kb >= 0 else float("nan"), "errors": errors}


def stage_breakdown(rows: list[list[str]]) -> list[list]:
    """Median ms per stage; 'bridge' = C++ call time minus the time spent in Python."""
    per: dict[str, list[float]] = {}
    for r in rows:
        if len(r) < 7 or r[6] == "-":
            continue
        stages = {k: float(v) for k, v in (kv.split("=") for kv in r[6].split(",") if "=" in kv)}
        if "python" in stages:
            stages["bridge"] = max(float(r[4]) - stages["python"], 0.0)
            stages["other python"] = max(stages["python"] - sum(
                v for k, v in stages.items() if k not in ("python", "bridge")), 0.0)
            del stages["python"]
        for k, v in stages.items():
            per.setdefault(k, []).append(v)
    order = ["convert", "resize", "detect", "refine", "align", "embed", "other python", "bridge"]
    return [[k, f"{np.median(per[k]):.2f}", f"{np.percentile(per[k], 90):.2f}", f"{max(per[k]):.2f}"]
            for k in order if k in per]


STAGE_HEADERS = ["stage (per call)", "median ms", "p90 ms", "max ms"]
TIMING_HEADERS = ["image size class", "calls", "median ms", "p90 ms", "max ms"]


def init_line(timing: dict) -> str:
    """initialize()'s cost as the timing driver measured it (once, pinned to the timing core)."""
    return (f"initialize(): {timing['init_ms']:.0f} ms (loads the interpreter and both models, runs each "
            f"once); RSS after it {timing['init_rss_mb']:.0f} MB")
