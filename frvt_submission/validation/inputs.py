"""NIST-format validation inputs: binary PPM/PGM images and the input lists of every phase."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import paths
from ..imagefile import IMAGE_SUFFIXES
from frvt_runtime.errors import ConfigError


@dataclass
class Inputs:
    folder: Path
    enroll: Path          # id image label: every subject image, plus the edge cases
    config_check: Path    # the first 10 lines of enroll
    multi_image: Path     # id image label image label ... (2-6 images of one subject, one held out)
    verif: Path
    multi_person: Path    # one image per line
    subjects: dict[str, list[Path]]   # subject -> its images (as written PPM/PGM), in order
    pair_kinds: dict[tuple[str, str], tuple[str, str]]   # (enroll id, verif id) -> (subject, genuine|impostor)


def enroll_id(sid: str, k: int) -> str:
    return f"e_{sid}_{k}"


def verif_id(sid: str, k: int) -> str:
    return f"v_{sid}_{k}"


def multi_id(sid: str) -> str:
    return f"m_{sid}"


def write_pnm(image_rgb: np.ndarray, dst: Path, grey: bool | None = None) -> Path:
    """P5 when the pixels are grey, else P6; header without comments, as NIST's files. grey=True or
    False forces P5 or P6 (a name in NIST's lists fixes the format: its black.ppm is P6)."""
    h, w = image_rgb.shape[:2]
    same = bool(np.all(image_rgb[:, :, 0] == image_rgb[:, :, 1]) and np.all(image_rgb[:, :, 1] == image_rgb[:, :, 2]))
    grey = same if grey is None else grey
    if not grey:
        data = image_rgb
    elif same:
        data = image_rgb[:, :, 0]
    else:  # colour asked for as P5: ITU-R BT.601 luma, as OpenCV's RGB2GRAY
        data = np.rint(image_rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    dst = dst.with_suffix(".pgm" if grey else ".ppm")
    dst.write_bytes(f"{'P5' if grey else 'P6'}\n{w} {h}\n255\n".encode() + np.ascontiguousarray(data).tobytes())
    return dst


def subject_of(path: Path, source: Path, registry: Path) -> str | None:
    """Who is in the photo: registry test images by their known identity, otherwise the first
    sub-folder under the source (MEDS's S001/, a user's folder per person); a file at a source's
    top level is its own subject. None for NIST's edge-case images, which have no subject."""
    from ..testdata import IDENTITY

    if source.name == "frvt_edge":
        return None
    if source == registry:
        if path.name not in IDENTITY:
            raise ConfigError(f"{path}: not a registry test image with a known identity")
        sid = IDENTITY[path.name]
    else:
        rel = path.relative_to(source)
        sid = rel.parts[0] if len(rel.parts) > 1 else path.stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", sid)  # ids are whitespace-separated in NIST's lists


def check_image_folders(extra: list[Path]) -> None:
    """ConfigError unless each of the user's image folders is one."""
    for src in extra:
        if not src.is_dir():
            raise ConfigError(f"image folder not found: {src}" + (" (a file: give its folder)" if src.exists() else ""))


def check_output_folder(out: Path) -> None:
    """ConfigError when the validation output folder's path cannot go into NIST's input lists."""
    if any(c.isspace() for c in str(out)):
        raise ConfigError(f"validation output folder {out} has whitespace, which NIST's input lists cannot hold")


def collect_sources(extra: list[Path]) -> list[tuple[Path, Path]]:
    """(image, source folder) pairs: registry images, ../shared's MEDS + edge images, user folders."""
    from ..testdata import test_images

    sources = [test_images()] + [paths.SHARED_DATA / d for d in ("meds_openmpf", "frvt_edge")
                                 if (paths.SHARED_DATA / d).is_dir()] + list(extra)
    check_image_folders(extra)
    found = []
    for src in sources:
        found += [(p, src) for p in sorted(src.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    return found


def prepare_inputs(out: Path, extra: list[Path], max_images: int = 0) -> Inputs:
    """Every image of every subject is enrolled and verified; genuine pairs match two different
    images of one subject, impostor pairs two subjects; multi-image templates hold 2-6 images of
    one subject and leave one out, to be matched against it."""
    from ..imagefile import read_image
    from ..testdata import test_images

    check_output_folder(out)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    registry = test_images()
    subjects: dict[str, list[Path]] = {}
    edge: list[Path] = []
    pairs = collect_sources(extra)
    if max_images:
        pairs = pairs[:max_images]
    for i, (src, folder) in enumerate(pairs):
        dst = write_pnm(read_image(src), img_dir / f"{i:04d}_{src.stem}")
        sid = subject_of(src, folder, registry)
        if sid is None:
            edge.append(dst)
        else:
            subjects.setdefault(sid, []).append(dst)
    if len(subjects) < 2:
        raise ConfigError(f"validation needs images of at least 2 subjects, found {len(subjects)}")
    if not any(len(imgs) >= 2 for imgs in subjects.values()):
        raise ConfigError("validation needs a subject with 2 or more images for genuine pairs")
    enroll_rows, verif_rows, multi_rows = [], [], []
    for sid, imgs in sorted(subjects.items()):
        enroll_rows += [f"{enroll_id(sid, k)} {p} facemugshot" for k, p in enumerate(imgs)]
        verif_rows += [f"{verif_id(sid, k)} {p} facemugshot" for k, p in enumerate(imgs)]
        if len(imgs) >= 3:  # image 1 is held out, so the template is matched against an unseen image
            kept = [imgs[0]] + imgs[2:7]
            multi_rows.append(f"{multi_id(sid)} " + " ".join(f"{p} facemugshot" for p in kept))
    for j, p in enumerate(edge):  # edge cases are enrolled too: they must not crash
        enroll_rows.append(f"edge{j} {p} faceunknown")
    multi_person = [f"mp{j} {p} faceunknown" for j, p in enumerate(edge or [imgs[0] for imgs in subjects.values()])]
    random.Random(1).shuffle(verif_rows)
    kinds = pair_plan(subjects)

    def write(name: str, rows: list[str]) -> Path:
        f = out / name
        f.write_text("\n".join(rows) + "\n")
        return f

    return Inputs(out, write("enroll.txt", enroll_rows), write("config_check.txt", enroll_rows[:10]),
                  write("multi_image.txt", multi_rows), write("verif.txt", verif_rows),
                  write("multi_person.txt", multi_person), subjects, kinds)


def pair_plan(subjects: dict[str, list[Path]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(enroll id, verif id) -> (subject of the enrolled template, genuine | impostor). Ids are
    template file stems; the match list joins them with the templates folder (see run.py)."""
    sids = sorted(subjects)
    kinds: dict[tuple[str, str], tuple[str, str]] = {}
    for i, sid in enumerate(sids):
        n = len(subjects[sid])
        others = [sids[(i + d) % len(sids)] for d in (1, 2) if sids[(i + d) % len(sids)] != sid]
        for k in range(n):
            if n >= 2:
                kinds[(enroll_id(sid, k), verif_id(sid, (k + 1) % n))] = (sid, "genuine")
            for o in others:
                kinds[(enroll_id(sid, k), verif_id(o, k % len(subjects[o])))] = (sid, "impostor")
        if n >= 3:
            kinds[(multi_id(sid), verif_id(sid, 1))] = (sid, "genuine")
            for o in others:
                kinds[(multi_id(sid), verif_id(o, 0))] = (sid, "impostor")
    return kinds
