"""NIST-format validation inputs: binary PPM/PGM images and the input lists of every phase."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import ConfigError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp"}


@dataclass
class Inputs:
    folder: Path
    enroll: Path          # id image label
    config_check: Path    # the first 10 lines of enroll
    multi_image: Path     # id image label image label ... (2-6 images of one subject)
    verif: Path
    multi_person: Path    # one image per line
    subjects: dict[str, list[Path]]


def write_pnm(image_rgb: np.ndarray, dst: Path) -> Path:
    """P5 when the pixels are grey, else P6; header without comments, as NIST's files."""
    h, w = image_rgb.shape[:2]
    grey = bool(np.all(image_rgb[:, :, 0] == image_rgb[:, :, 1]) and np.all(image_rgb[:, :, 1] == image_rgb[:, :, 2]))
    data = image_rgb[:, :, 0] if grey else image_rgb
    dst = dst.with_suffix(".pgm" if grey else ".ppm")
    dst.write_bytes(f"{'P5' if grey else 'P6'}\n{w} {h}\n255\n".encode() + np.ascontiguousarray(data).tobytes())
    return dst


def _subject_of(path: Path, source: Path) -> str:
    """MEDS names carry the subject (S001-01-t10_01); elsewhere the parent folder is the subject."""
    stem = path.stem
    if stem[:1] == "S" and "-" in stem:
        return stem.split("-")[0]
    return path.parent.name if path.parent != source else stem


def collect_sources(extra: list[Path]) -> list[tuple[Path, Path]]:
    """(image, source folder) pairs: registry images, ../shared's MEDS + edge images, user folders."""
    from ..testdata import test_images

    sources = [test_images()] + [paths.SHARED_DATA / d for d in ("meds_openmpf", "frvt_edge")
                                 if (paths.SHARED_DATA / d).is_dir()] + list(extra)
    found = []
    for src in sources:
        if not src.is_dir():
            raise ConfigError(f"image folder not found: {src}")
        found += [(p, src) for p in sorted(src.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    return found


def prepare_inputs(out: Path, extra: list[Path], max_images: int = 0) -> Inputs:
    from ..face.image import read_image

    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    subjects: dict[str, list[Path]] = {}
    edge: list[Path] = []
    pairs = collect_sources(extra)
    if max_images:
        pairs = pairs[:max_images]
    for i, (src, folder) in enumerate(pairs):
        dst = write_pnm(read_image(src), img_dir / f"{i:04d}_{src.stem}")
        if folder.name == "frvt_edge":
            edge.append(dst)
        else:
            subjects.setdefault(_subject_of(src, folder), []).append(dst)
    if not subjects:
        raise ConfigError("no images found for validation")
    rng = random.Random(1)
    enroll_rows, verif_rows, multi_rows = [], [], []
    for sid, imgs in sorted(subjects.items()):
        enroll_rows.append(f"{sid}_e {imgs[0]} facemugshot")
        verif_rows.append(f"{sid}_v {imgs[-1]} facemugshot")
        if len(imgs) >= 2:
            k = min(len(imgs), 6)
            multi_rows.append(f"{sid}_m " + " ".join(f"{p} facemugshot" for p in imgs[:k]))
    for j, p in enumerate(edge):  # edge cases are enrolled too: they must not crash
        enroll_rows.append(f"edge{j}_e {p} faceunknown")
    multi_person = [f"mp{j} {p} faceunknown" for j, p in enumerate(edge or [imgs[0] for imgs in subjects.values()])]
    rng.shuffle(verif_rows)

    def write(name: str, rows: list[str]) -> Path:
        f = out / name
        f.write_text("\n".join(rows) + "\n")
        return f

    return Inputs(out, write("enroll.txt", enroll_rows), write("config_check.txt", enroll_rows[:10]),
                  write("multi_image.txt", multi_rows or enroll_rows[:2]), write("verif.txt", verif_rows),
                  write("multi_person.txt", multi_person), subjects)
