"""Verification accuracy: a pairs CSV as listed, every cross-identity pair of its images, and LFW's View-2 protocol."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frvt_runtime.errors import ConfigError, FrvtError
from .imagefile import read_image


@dataclass(frozen=True)
class Pair:
    img1: Path
    img2: Path
    same: bool
    id1: str = ""  # identity labels (CSV id1/id2); "" = the image's folder names the person
    id2: str = ""
    where: str = field(default="", compare=False)  # "<file> line <n>", for messages


def read_pairs(csv_path: Path) -> list[Pair]:
    """Paths may be relative to the CSV's folder or to its parent (as in ../shared/data). A pair
    listed twice counts once; listed with both labels, it is refused."""
    # absolute, so a bare "pairs.csv" still has a parent to look in; abspath, not resolve(), so a
    # symlinked CSV keeps its own folder
    csv_path = Path(os.path.abspath(csv_path))
    if csv_path.is_dir():
        raise ConfigError(f"{csv_path} is a folder: give its pairs file (e.g. {csv_path / 'pairs.csv'})")
    if not csv_path.is_file():
        raise ConfigError(f"pairs file not found: {csv_path}")
    bases = [csv_path.parent, csv_path.parent.parent]

    def resolve(p: str, where: str) -> Path:
        for base in bases:
            if (base / p).is_file():
                return base / p
        raise ConfigError(f"{where}: image {p!r} not found next to the CSV or its parent")

    pairs, seen = [], {}
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" BOM
            reader = csv.DictReader(f)
            missing = {"img1", "img2", "label"} - set(reader.fieldnames or [])
            if missing:
                raise ConfigError(f"{csv_path}: missing column(s) {sorted(missing)}; its first line reads "
                                  f"{','.join(reader.fieldnames or [])!r}, and a pairs file's is "
                                  f"'img1,img2,label[,id1,id2]' (comma-separated, lower case)")
            for row in reader:
                where = f"{csv_path} line {reader.line_num}"
                if None in row or None in row.values():  # DictReader's filler for a short/long row
                    raise ConfigError(f"{where}: {len(reader.fieldnames)} columns expected "
                                      f"({','.join(reader.fieldnames)}); fix the row (quote a path with a comma)")
                if row["label"] not in ("0", "1"):
                    raise ConfigError(f"{where}: label must be 0 or 1, got {row['label']!r}")
                p = Pair(resolve(row["img1"], where), resolve(row["img2"], where), row["label"] == "1",
                         row.get("id1") or "", row.get("id2") or "", where)
                first, line = seen.setdefault(frozenset((p.img1, p.img2)), (p, reader.line_num))  # a score is symmetric
                if first.same != p.same:
                    raise ConfigError(f"{where}: the same two images as line {line}, with the other label; "
                                      f"keep the right row")
                if first is p:  # an exact repeat would weigh one comparison twice
                    pairs.append(p)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"{csv_path}: not a UTF-8 CSV file ({e}); save it as 'CSV UTF-8'") from None
    if not pairs:
        raise ConfigError(f"{csv_path}: no pairs, only a header; add rows img1,img2,label")
    identities(pairs)  # refuse contradicting labels now, not after embedding every image
    return pairs


def embed_images(pipeline, images: list[Path], progress=None) -> dict[Path, np.ndarray | None]:
    if hasattr(pipeline, "embed_all"):  # the built library: one driver run for all images
        return pipeline.embed_all(images, progress)
    out = {}
    for i, path in enumerate(images):
        try:
            out[path] = pipeline.embedding_of(read_image(path))
        except FrvtError:
            out[path] = None
        if progress:
            progress(i + 1, len(images))
    return out


def unreadable_images(embeddings: dict[Path, np.ndarray | None]) -> list[str]:
    """Why each image that gave no embedding could not be read, if it could not (a missing, empty,
    truncated or undecodable file): counted as a failure to enrol like an image without a face,
    but named, so that a broken file is not taken for a hard face."""
    why = []
    for path in sorted(p for p, e in embeddings.items() if e is None):
        try:
            read_image(path)
        except FrvtError as exc:
            why.append(str(exc))
    return why


def unreadable_line(name: str, why: list[str], images: int, outcome: str = "count as failures to enrol",
                    shown: int = 5) -> str:
    """The warning eval, report and calibrate print for images that could not all be read."""
    more = f"; and {len(why) - shown} more" if len(why) > shown else ""
    return (f"warning: {name}: {len(why)} of {images} images could not be read and {outcome}: "
            f"{'; '.join(why[:shown])}{more}")


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, fmr: float) -> float | None:
    """FNMR at the lowest threshold whose FMR <= fmr; None when there are too few impostors or no
    genuine pairs."""
    if impostor.size < round(1 / fmr) or genuine.size == 0:
        return None
    imp = np.sort(impostor)[::-1]
    k = int(np.floor(fmr * imp.size))  # impostors allowed above the threshold
    threshold = imp[k] if k < imp.size else -np.inf
    return float(np.mean(genuine <= threshold))


def best_threshold_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float | None, float | None]:
    """(None, None) without both genuine and impostor pairs: any threshold past the scores is then
    'perfect', which says nothing."""
    if labels.all() or not labels.any():
        return None, None
    cands = np.unique(scores)
    best_acc, best_t = 0.0, 0.0
    for t in np.concatenate([cands, [cands.max() + 1e-6]]):
        acc = float(np.mean((scores >= t) == labels))
        if acc > best_acc:
            best_acc, best_t = acc, float(t)
    return best_acc, best_t


def evaluate(pipeline, pairs: list[Pair], threshold: float, progress=None) -> dict:
    """Cosine scores per pair (failed enrolment = -1, i.e. a non-match) and summary figures."""
    if not pairs:
        raise FrvtError("no pairs to evaluate")
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
        "embeddings": emb,
    }


def summary_row(name: str, r: dict) -> list:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    best = (f"{pct(r['best_accuracy'])} @ {r['best_threshold']:.3f}" if r["best_threshold"] is not None
            else f"n/a ({'genuine' if r['genuine'] else 'impostor'} pairs only)")
    return [name, r["pairs"], f"{r['genuine']}/{r['impostor']}", f"{r['fte']}/{r['images']}",
            pct(r["accuracy"]), best,
            pct(r["fnmr@fmr1e-2"]), pct(r["fnmr@fmr1e-3"])]


SUMMARY_HEADERS = ["set", "pairs", "gen/imp", "FTE/images", "acc@thr", "best acc @ cos",
                   "FNMR@FMR=1e-2", "FNMR@FMR=1e-3"]


# -- every cross-identity pair ------------------------------------------------------------
FMRS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
FAILED_SCORE = -1.0  # a failed enrolment matches nothing, as the library's failure template


def identities(pairs: list[Pair]) -> dict[Path, str]:
    """Image -> identity: the CSV's id1/id2 where given, else the image's folder (one per person)."""
    ids: dict[Path, str] = {}
    for p in pairs:
        for img, pid in ((p.img1, p.id1), (p.img2, p.id2)):
            pid = pid or img.parent.name
            if ids.setdefault(img, pid) != pid:
                raise ConfigError(f"{p.where or img}: {img} is labelled both {ids[img]!r} and {pid!r}")
    # a label contradicting the identities would move a listed pair to the other side of the
    # every-pair table
    if bad := [p for p in pairs if p.same != (ids[p.img1] == ids[p.img2])]:
        p = bad[0]
        raise ConfigError(f"{p.where or p.img1}: label {int(p.same)}, but the identities (id1/id2 columns, else "
                          f"the image folders) are {ids[p.img1]!r} and {ids[p.img2]!r}; give id1,id2 "
                          f"columns naming each image's person")
    return ids


def all_pair_scores(emb: dict[Path, np.ndarray | None], ids: dict[Path, str],
                    block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) cosine scores of every unordered pair of distinct images, as blocks of
    one matrix product; pairs with a failed enrolment score FAILED_SCORE."""
    images = sorted(ids)
    ok = [p for p in images if emb.get(p) is not None]
    e = np.stack([emb[p] for p in ok]).astype(np.float32) if ok else np.zeros((0, 1), np.float32)
    labels = np.array([ids[p] for p in ok])
    genuine, impostor = [], []
    for i0 in range(0, len(ok), block):
        s = e[i0:i0 + block] @ e.T
        rows = np.arange(i0, min(i0 + block, len(ok)))[:, None]
        upper = np.arange(len(ok))[None, :] > rows  # each unordered pair once
        same = labels[i0:i0 + block, None] == labels[None, :]
        genuine.append(s[upper & same])
        impostor.append(s[upper & ~same])
    _, counts = np.unique([ids[p] for p in images], return_counts=True)
    n_gen = int(sum(c * (c - 1) // 2 for c in counts))
    n_imp = len(images) * (len(images) - 1) // 2 - n_gen
    g = np.concatenate(genuine) if genuine else np.zeros(0, np.float32)
    i = np.concatenate(impostor) if impostor else np.zeros(0, np.float32)
    return (np.concatenate([g, np.full(n_gen - g.size, FAILED_SCORE, np.float32)]),
            np.concatenate([i, np.full(n_imp - i.size, FAILED_SCORE, np.float32)]))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (sound near 0, where FNMR lives)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def fnmr_table(genuine: np.ndarray, impostor: np.ndarray, fmrs=FMRS) -> dict[float, dict | None]:
    """FMR -> {fnmr, lo, hi, threshold, misses} with a 95% interval over the genuine pairs; None
    where the impostors are too few for that FMR (fewer than 1/FMR)."""
    out: dict[float, dict | None] = {}
    imp = np.sort(impostor)[::-1]
    for fmr in fmrs:
        if imp.size < round(1 / fmr) or genuine.size == 0:
            out[fmr] = None
            continue
        k = int(np.floor(fmr * imp.size))  # impostors allowed above the threshold
        threshold = float(imp[k]) if k < imp.size else -np.inf
        misses = int(np.sum(genuine <= threshold))
        lo, hi = wilson(misses, genuine.size)
        out[fmr] = {"fnmr": misses / genuine.size, "lo": lo, "hi": hi, "threshold": threshold, "misses": misses}
    return out


def evaluate_all_pairs(pipeline, pairs: list[Pair], progress=None, emb=None) -> dict:
    ids = identities(pairs)
    emb = emb if emb is not None else embed_images(pipeline, sorted(ids), progress)
    genuine, impostor = all_pair_scores(emb, ids)
    return {"images": len(ids), "identities": len(set(ids.values())), "genuine": genuine.size,
            "impostor": impostor.size, "fte": sum(emb.get(p) is None for p in ids),
            "fnmr": fnmr_table(genuine, impostor), "scores": (genuine, impostor)}


def all_pairs_row(name: str, r: dict) -> list:
    def cell(v):
        if v is None:
            return "n/a"
        return f"{100 * v['fnmr']:.2f}% [{100 * v['lo']:.2f}, {100 * v['hi']:.2f}]"

    return [name, f"{r['images']}/{r['identities']}", r["genuine"], r["impostor"], r["fte"],
            *(cell(r["fnmr"][f]) for f in FMRS)]


ALL_PAIRS_HEADERS = ["set", "images/ids", "genuine pairs", "impostor pairs", "FTE",
                     *(f"FNMR@FMR={f:.0e} [95% CI]" for f in FMRS)]


# -- LFW View 2 -----------------------------------------------------------------------------
LFW_HEADERS = ["set", "folds", "pairs", "FTE/images", "accuracy mean ± sd", "SE %"]


def limited_fold(fold: list[Pair], n: int) -> list[Pair]:
    """n pairs of an LFW fold, the first genuine and impostor ones half and half (the genuine one
    more when n is odd): a fold lists its genuine pairs first, so its first n alone were one label."""
    same, other = [p for p in fold if p.same], [p for p in fold if not p.same]
    k = min((n + 1) // 2, len(same))
    return same[:k] + other[:n - k]


def read_lfw_pairs(pairs_txt: Path, images: Path | None = None) -> list[list[Pair]]:
    """LFW's pairs.txt ('10 300', then per fold 300 'name n1 n2' and 300 'name1 n1 name2 n2'
    lines) as 10 folds of pairs; images under images/<name>/<name>_<nnnn>.jpg (default: the
    'lfw' folder beside pairs.txt, else its own folder)."""
    pairs_txt = Path(pairs_txt)
    if not pairs_txt.is_file():
        raise ConfigError(f"pairs file not found: {pairs_txt}")
    try:
        text = pairs_txt.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{pairs_txt}: not a text file") from None
    lines = [(n, ln.split()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    try:
        n_folds, per = (int(w) for w in lines[0][1])  # exactly two numbers
    except (IndexError, ValueError):
        raise ConfigError(f"{pairs_txt}: the first line must be '<folds> <pairs per class>', e.g. '10 300'") from None
    if n_folds < 2 or per < 1:
        raise ConfigError(f"{pairs_txt}: the first line gives {n_folds} folds of {per} pairs per class; View 2 "
                          f"needs at least 2 folds (each is scored at the threshold best on the others) of 1 or more")
    root = images or (pairs_txt.parent / "lfw" if (pairs_txt.parent / "lfw").is_dir() else pairs_txt.parent)

    def image(name: str, n: str, line: int) -> Path:
        try:
            p = root / name / f"{name}_{int(n):04d}.jpg"
        except ValueError:
            raise ConfigError(f"{pairs_txt} line {line}: image number {n!r} is not a number") from None
        if not p.is_file():
            raise ConfigError(f"{pairs_txt} line {line}: image {p} not found")
        return p

    body, want = lines[1:], n_folds * 2 * per
    if len(body) < want:
        raise ConfigError(f"{pairs_txt}: {len(body)} pair lines, but the first line promises {n_folds} folds x 2 x "
                          f"{per} = {want}: {want - len(body)} missing, from fold {len(body) // (2 * per) + 1} on")
    if len(body) > want:
        raise ConfigError(f"{pairs_txt}: {len(body)} pair lines, but the first line promises {n_folds} folds x 2 x "
                          f"{per} = {want}: line {body[want][0]} on is extra")
    folds = []
    for f in range(n_folds):
        fold = []
        for n, w in body[f * 2 * per:(f + 1) * 2 * per]:
            where = f"{pairs_txt} line {n}"
            if len(w) == 3:
                fold.append(Pair(image(w[0], w[1], n), image(w[0], w[2], n), True, w[0], w[0], where))
            elif len(w) == 4:
                fold.append(Pair(image(w[0], w[1], n), image(w[2], w[3], n), False, w[0], w[2], where))
            else:
                raise ConfigError(f"{where}: {' '.join(w)!r} is neither 'name n1 n2' nor 'name1 n1 name2 n2'")
        folds.append(fold)
    return folds


def midpoint_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The most accurate threshold, placed halfway between two scores rather than on one, so a
    held-out fold is not judged by a threshold sitting exactly on a training score."""
    u = np.unique(scores)
    cands = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    accs = [np.mean((scores >= t) == labels) for t in cands]
    return float(cands[int(np.argmax(accs))])


def ten_fold(scores: list[np.ndarray], labels: list[np.ndarray]) -> dict:
    """LFW View 2: each fold scored at the best threshold of the other folds; mean, sd, SE."""
    accs = []
    for k in range(len(scores)):
        train_s = np.concatenate([s for j, s in enumerate(scores) if j != k])
        train_l = np.concatenate([lab for j, lab in enumerate(labels) if j != k])
        t = midpoint_threshold(train_s, train_l)
        accs.append(float(np.mean((scores[k] >= t) == labels[k])))
    a = np.array(accs)
    sd = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return {"folds": accs, "mean": float(a.mean()), "sd": sd, "se": sd / np.sqrt(a.size)}


def evaluate_lfw(pipeline, folds: list[list[Pair]], progress=None) -> dict:
    images = sorted({p.img1 for f in folds for p in f} | {p.img2 for f in folds for p in f})
    emb = embed_images(pipeline, images, progress)

    def score(p: Pair) -> float:
        a, b = emb[p.img1], emb[p.img2]
        return FAILED_SCORE if a is None or b is None else float(np.dot(a, b))

    scores = [np.array([score(p) for p in f]) for f in folds]
    labels = [np.array([p.same for p in f]) for f in folds]
    return {**ten_fold(scores, labels), "pairs": sum(len(f) for f in folds), "images": len(images),
            "fte": sum(v is None for v in emb.values())}
