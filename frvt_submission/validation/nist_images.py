"""Stand-ins for NIST's validation images: the names NIST's input lists give, written from ../shared/data."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..imagefile import IMAGE_SUFFIXES
from frvt_runtime.errors import ConfigError

PNM = (".ppm", ".pgm")                 # what NIST's lists name: P6 colour, P5 grey
SUBJECT = re.compile(r"^(S\d{3})-")    # MEDS names: S001-01-t10_01
SHARED_SETS = ("meds_openmpf", "frvt_edge")


@dataclass
class Plan:
    """listed file name -> the file name the list gets, its shared source, and whether it is that
    very image (a real copy) or a stand-in."""
    target: dict[str, str] = field(default_factory=dict)
    source: dict[str, Path] = field(default_factory=dict)
    real: dict[str, bool] = field(default_factory=dict)


def subject(stem: str) -> str | None:
    m = SUBJECT.match(stem)
    return m.group(1) if m else None


def shared_pool(shared: Path) -> dict[str, Path]:
    """stem -> shared image: MEDS JPEGs (one folder per subject) and NIST's edge-case images."""
    pool: dict[str, Path] = {}
    for name in SHARED_SETS:
        folder = shared / name
        if not folder.is_dir():
            raise ConfigError(f"{folder} not found: NIST's images are not in its repository, and the "
                              f"stand-ins come from ../shared/data/{{{','.join(SHARED_SETS)}}}")
        for p in sorted(folder.rglob("*")):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                pool.setdefault(p.stem, p)
    return pool


def _tokens(line: str) -> list[str]:
    """The line cut into words and the whitespace between them (kept, so a rewrite changes the
    paths only: a trailing space in NIST's list stays)."""
    return re.split(r"(\s+)", line)


def _path_slots(tokens: list[str]) -> list[int]:
    """Where the paths are: words 1, 3, 5... of an image list (`id path label [path label ...]`)
    ending in .ppm/.pgm (a match list's words are template names, none of them)."""
    slots, word = [], 0
    for i, tok in enumerate(tokens):
        if tok and not tok.isspace():
            if word % 2 == 1 and tok.lower().endswith(PNM):
                slots.append(i)
            word += 1
    return slots


def listed_images(text: str) -> list[str]:
    """Every image path a list names, in order (repeats kept)."""
    found = []
    for line in text.splitlines():
        toks = _tokens(line)
        found += [toks[i] for i in _path_slots(toks)]
    return found


def rewrite_list(text: str, plan: Plan) -> str:
    """The list with each image path's file name replaced as planned; ids, labels, order, line
    count and whitespace untouched."""
    out = []
    for line in text.splitlines(keepends=True):
        toks = _tokens(line)
        for i in _path_slots(toks):
            folder, slash, name = toks[i].rpartition("/")
            toks[i] = folder + slash + plan.target[name]
        out.append("".join(toks))
    return "".join(out)


def plan_images(names: list[str], pool: dict[str, Path], present: set[str] = frozenset()) -> Plan:
    """Each listed name -> its shared copy when there is one (same name); else a stand-in: another
    image of the same subject, else the images of one stand-in subject per missing subject (so two
    images of one person stay two images of one person), else any MEDS photo. Names already in
    NIST's image folder (`present`) are NIST's own and stay. Missing names sharing candidates take
    them in turn, so consecutive images of a subject get different stand-ins."""
    plan = Plan()
    faces: dict[str, list[str]] = {}
    for stem in sorted(pool):
        if subject(stem):
            faces.setdefault(subject(stem), []).append(stem)
    several = sorted(s for s, stems in faces.items() if len(stems) >= 2) or sorted(faces)
    anyone = sorted(st for stems in faces.values() for st in stems) or sorted(pool)
    if not anyone:
        raise ConfigError("no shared image to stand in for NIST's images")
    groups: dict[str, list[str]] = {}
    for name in sorted(set(names)):
        stem = name.rsplit(".", 1)[0]
        if name in present or stem in pool:
            plan.target[name], plan.real[name] = name, True
            if name not in present:
                plan.source[name] = pool[stem]
            continue
        sid = subject(stem)
        if sid in faces:
            key = sid
        elif sid and several:
            key = several[zlib.crc32(sid.encode()) % len(several)]
        else:
            key = "*"
        groups.setdefault(key, []).append(name)
    for key, missing in groups.items():
        candidates = anyone if key == "*" else faces[key]
        for i, name in enumerate(missing):
            stem = candidates[i % len(candidates)]
            plan.target[name] = stem + "." + name.rsplit(".", 1)[-1]
            plan.source[name], plan.real[name] = pool[stem], False
    return plan


@dataclass
class ImageReport:
    lists: list[str]
    references: int        # image paths in the lists, repeats counted
    real_refs: int
    names: int             # distinct listed names
    real_names: int
    written: int           # image files written into common/images/face/
    nist_own: int          # listed names already in DIR's common/images/face/ (NIST's own images)

    def line(self) -> str:
        stand = self.references - self.real_refs
        own = f" ({self.nist_own} of them NIST's own, already in DIR)" if self.nist_own else ""
        return (f"images: NIST's lists ({', '.join(self.lists)}) name {self.references} images, "
                f"{self.names} distinct: {self.real_refs} are real copies{own} "
                f"({self.real_names} distinct), {stand} are stand-ins ({self.names - self.real_names} distinct "
                f"names with no shared copy, listed instead as another image of the same subject, of one "
                f"stand-in subject, or any MEDS photo); {self.written} files written as binary PPM/PGM")


def prepare_images(package: Path, shared: Path) -> ImageReport:
    """Rewrite the image paths of the copy's 11/input/*.txt and write every image they now name
    into its common/images/face/."""
    from ..imagefile import read_image
    from .inputs import write_pnm

    inputs = package / "11" / "input"
    face_dir = package / "common" / "images" / "face"
    face_dir.mkdir(parents=True, exist_ok=True)
    texts = {f: f.read_text() for f in sorted(inputs.glob("*.txt"))}
    listed = {f: listed_images(t) for f, t in texts.items()}
    names = [p.rpartition("/")[2] for paths in listed.values() for p in paths]
    present = {n for n in names if (face_dir / n).is_file()}
    plan = plan_images(names, shared_pool(shared), present)
    for f, text in texts.items():
        new = rewrite_list(text, plan)
        if new != text:
            f.write_text(new)
    written = {}
    for name, src in plan.source.items():
        target = plan.target[name]
        if target not in written and target not in present:
            written[target] = write_pnm(read_image(src), face_dir / target, grey=target.lower().endswith(".pgm"))
    real_refs = sum(plan.real[n] for n in names)
    return ImageReport([f.name for f, paths in listed.items() if paths], len(names), real_refs, len(set(names)),
                       sum(plan.real.values()), len(written), len(present))
