"""Score a pairs CSV (img1,img2,label) with the pipeline and summarise verification accuracy."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frvt_runtime.errors import ConfigError, FrvtError
from .imagefile import read_image


@dataclass(frozen=True)
class Pair:
    img1: Path
    img2: Path
    same: bool


def read_pairs(csv_path: Path) -> list[Pair]:
    """Paths may be relative to the CSV's folder or to its parent (as in ../shared/data)."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ConfigError(f"pairs file not found: {csv_path}")
    bases = [csv_path.parent, csv_path.parent.parent]

    def resolve(p: str) -> Path:
        for base in bases:
            if (base / p).is_file():
                return base / p
        raise ConfigError(f"{csv_path}: image {p} not found next to the CSV or its parent")

    pairs = []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"img1", "img2", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"{csv_path}: missing column(s) {sorted(missing)}")
        for row in reader:
            if row["label"] not in ("0", "1"):
                raise ConfigError(f"{csv_path}: label must be 0 or 1, got {row['label']!r}")
            pairs.append(Pair(resolve(row["img1"]), resolve(row["img2"]), row["label"] == "1"))
    return pairs


def embed_images(pipeline, images: list[Path], progress=None) -> dict[Path, np.ndarray | None]:
    out = {}
    for i, path in enumerate(images):
        try:
            out[path] = pipeline.embedding_of(read_image(path))
        except FrvtError:
            out[path] = None
        if progress:
            progress(i + 1, len(images))
    return out


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, fmr: float) -> float | None:
    """FNMR at the lowest threshold whose FMR <= fmr; None when there are too few impostors."""
    if impostor.size < round(1 / fmr):
        return None
    imp = np.sort(impostor)[::-1]
    k = int(np.floor(fmr * imp.size))  # impostors allowed above the threshold
    threshold = imp[k] if k < imp.size else -np.inf
    return float(np.mean(genuine <= threshold))


def best_threshold_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    cands = np.unique(scores)
    best_acc, best_t = 0.0, 0.0
    for t in np.concatenate([cands, [cands.max() + 1e-6]]):
        acc = float(np.mean((scores >= t) == labels))
        if acc > best_acc:
            best_acc, best_t = acc, float(t)
    return best_acc, best_t


def evaluate(pipeline, pairs: list[Pair], threshold: float, progress=None) -> dict:
    """Cosine scores per pair (failed enrolment = -1, i.e. a non-match) and summary figures."""
    images = sorted({p.img1 for p in pairs} | {p.img2 for p in pairs})
    emb = embed_images(pipeline, images, progress)
    scores, labels = [], []
    for p in pairs:
        a, b = emb[p.img1], emb[p.img2]
        scores.append(-1.0 if a is None or b is None else float(np.dot(a, b)))
        labels.append(p.same)
    scores, labels = np.asarray(scores), np.asarray(labels)
    best_acc, best_t = best_threshold_accuracy(scores, labels)
    return {
        "pairs": len(pairs),
        "genuine": int(labels.sum()),
        "impostor": int((~labels).sum()),
        "images": len(images),
        "fte": sum(v is None for v in emb.values()),
        "accuracy": float(np.mean((scores >= threshold) == labels)),
        "threshold": threshold,
        "best_accuracy": best_acc,
        "best_threshold": best_t,
        "fnmr@fmr1e-2": fnmr_at_fmr(scores[labels], scores[~labels], 1e-2),
        "fnmr@fmr1e-3": fnmr_at_fmr(scores[labels], scores[~labels], 1e-3),
        "scores": scores,
        "labels": labels,
    }


def summary_row(name: str, r: dict) -> list:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    return [name, r["pairs"], f"{r['genuine']}/{r['impostor']}", f"{r['fte']}/{r['images']}",
            pct(r["accuracy"]), f"{pct(r['best_accuracy'])} @ {r['best_threshold']:.3f}",
            pct(r["fnmr@fmr1e-2"]), pct(r["fnmr@fmr1e-3"])]


SUMMARY_HEADERS = ["set", "pairs", "gen/imp", "FTE/images", "acc@thr", "best acc @ cos",
                   "FNMR@FMR=1e-2", "FNMR@FMR=1e-3"]
