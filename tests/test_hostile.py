"""Hostile input, a real-inference soak and valid-template fuzzing through the C++ interface."""

from __future__ import annotations

import math
import random
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from frvt_submission import paths
from frvt_runtime.errors import TemplateFormatError
from frvt_runtime import template

# FRVT::ReturnCode values the assertions name.
SUCCESS, REFUSE_INPUT, VERIF_TEMPLATE_ERROR, FACE_DETECTION_ERROR, TEMPLATE_FORMAT_ERROR = 0, 3, 7, 8, 10
FAILURE_BYTES = template.HEADER_SIZE  # a failure template is the bare header
SMALL_SIDE = 320  # real faces shrunk to this: still detected, and cheap to read 1,000 times
SOAK_CALLS, SOAK_WARMUP, SOAK_MAX_GROWTH_KB = 1000, 100, 5 * 1024


@pytest.fixture(scope="module")
def programs(built) -> Path:
    from frvt_submission.bridge.build import GENERATED

    out = paths.BUILD / "cpp-tests"
    # Against the headers the library was built with (the template format among them).
    for cmd in (["cmake", "-S", str(paths.ROOT / "cpp_api" / "tests"), "-B", str(out),
                 f"-DFRVT_LIB={built['lib'].resolve()}", f"-DFRVT_GENERATED_DIR={GENERATED}"],
                ["cmake", "--build", str(out), "-j", "2"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def faces(tmp_path_factory, test_images) -> dict[str, Path]:
    """Every registry test image (all show a face) as a PPM no larger than SMALL_SIDE."""
    from frvt_runtime.detect import shrink_to_fit
    from frvt_submission.imagefile import read_image
    from frvt_submission.validation.inputs import write_pnm

    d = tmp_path_factory.mktemp("faces")
    return {p.stem: write_pnm(shrink_to_fit(read_image(p), (SMALL_SIDE, SMALL_SIDE), "area")[0], d / p.stem)
            for p in sorted(test_images.iterdir()) if p.suffix != ".csv"}


def _hostile11(programs: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    # As NIST runs it: an empty environment, the library found through LD_LIBRARY_PATH only.
    return subprocess.run(["env", "-i", "LD_LIBRARY_PATH=./lib", str(programs / "hostile11"), "./config", *args],
                          cwd=paths.ROOT, capture_output=True, text=True, timeout=timeout)


def _rows(stdout: str) -> dict[str, list[str]]:
    """case -> [returnCode, templateBytes | score, count, eyes, ms, result]."""
    return {ln.split()[0]: ln.split()[1:] for ln in stdout.splitlines()[1:]
            if ln and not ln.startswith("violations")}


@pytest.fixture(scope="module")
def real_templates(programs, faces, tmp_path_factory) -> dict[str, Path]:
    """Templates the library made from real faces: each one a detection with both eyes, and in
    the layout frvt_runtime.template defines (the fuzz seeds must be genuine)."""
    out = tmp_path_factory.mktemp("templates")
    r = _hostile11(programs, "templates", str(out), *(str(p) for p in faces.values()), timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stdout[-2000:] + r.stderr[-2000:]
    made = {}
    for stem, (code, size, count, eyes, _ms, _ok) in _rows("header\n" + r.stdout).items():
        assert (code, count, eyes) == ("0", "1", "1"), stem
        data = (out / f"{stem}.template").read_bytes()
        assert len(data) == int(size) > FAILURE_BYTES
        decoded = template.decode(data)
        assert not decoded.failed and decoded.n_images == 1
        assert abs(float(np.linalg.norm(decoded.embedding)) - 1.0) < 1e-3
        made[stem] = out / f"{stem}.template"
    assert set(made) == set(faces)
    return made


# -- hostile images and templates -----------------------------------------------------------

def _pnm(path: Path, pixels: np.ndarray) -> Path:
    """P5 for HxW, P6 for HxWx3, exactly as given (write_pnm would turn a grey RGB image into P5)."""
    h, w = pixels.shape[:2]
    grey = pixels.ndim == 2
    path = path.with_suffix(".pgm" if grey else ".ppm")
    path.write_bytes(f"{'P5' if grey else 'P6'}\n{w} {h}\n255\n".encode()
                     + np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return path


def _hostile_images(folder: Path, face: np.ndarray, partner: np.ndarray) -> dict[str, str]:
    """NIST's edge cases, made here so they run without ../shared: file name -> what it must give.
    "face": a template with both eyes; "faces": two or more people; "none": a failure template;
    "any": only the contract (a template, one EyePair per image, no crash)."""
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(11)
    h, w = face.shape[:2]
    grey = face.mean(axis=2).astype(np.uint8)
    big = np.full((4500, 3000, 3), 128, np.uint8)  # NIST sends 3000x4500 and more
    big[375:4125] = cv2.resize(face, (3000, 3750), interpolation=cv2.INTER_LINEAR)
    strip = np.full((h, 4000, 3), 128, np.uint8)  # >12:1; shrunk to 640 wide, the face is ~40 px
    strip[:, 1800:1800 + w] = face
    partner = cv2.resize(partner, (round(partner.shape[1] * h / partner.shape[0]), h))  # same height: hstack
    cases = {
        "face": (face, "face"),
        "face-grey": (grey, "face"),  # P5, depth 8
        "face-rot90": (np.rot90(face, -1), "face"),
        "face-rot180": (np.rot90(face, 2), "face"),
        "face-rot270": (np.rot90(face, 1), "face"),
        "face-odd": (face[: h - 1 + h % 2, : w - 1 + w % 2], "face"),  # odd width: rows not 4-byte aligned
        "face-grey-odd": (grey[: h - 1 + h % 2, : w - 1 + w % 2], "face"),
        "face-big-3000x4500": (big, "face"),
        "two-faces": (np.hstack([face, partner]), "faces"),
        # At the detector's limits (today the tiny face is missed, the strip's found): only the contract.
        "face-tiny": (cv2.resize(face, (w // 12, h // 12), interpolation=cv2.INTER_AREA), "any"),
        "face-in-strip-4000": (strip, "any"),
        "black": (np.zeros((480, 640, 3), np.uint8), "none"),
        "white": (np.full((480, 640, 3), 255, np.uint8), "none"),
        "black-grey": (np.zeros((480, 640), np.uint8), "none"),
        "white-grey": (np.full((480, 640), 255, np.uint8), "none"),
        "noise": (rng.integers(0, 256, (480, 640, 3), np.uint8), "none"),
        "noise-grey-odd": (rng.integers(0, 256, (479, 641), np.uint8), "none"),
        "0x0": (np.zeros((0, 0, 3), np.uint8), "none"),
        "0x0-grey": (np.zeros((0, 0), np.uint8), "none"),
        "1x1": (np.full((1, 1, 3), 200, np.uint8), "none"),
        "1x1-grey": (np.full((1, 1), 200, np.uint8), "none"),
        "11x11": (rng.integers(0, 256, (11, 11, 3), np.uint8), "none"),
        "strip-4000x2": (rng.integers(0, 256, (2, 4000, 3), np.uint8), "none"),
        "strip-2x4000-grey": (rng.integers(0, 256, (4000, 2), np.uint8), "none"),
        "strip-65535x1-grey": (rng.integers(0, 256, (1, 65535), np.uint8), "none"),
    }
    return {_pnm(folder / name, pixels).name: kind for name, (pixels, kind) in cases.items()}


@pytest.fixture(scope="module")
def hostile_run(programs, faces, tmp_path_factory) -> tuple[dict[str, list[str]], dict[str, str]]:
    """One hostile11 run over the built-in cases, the generated edge images and, when present,
    ../shared/data/frvt_edge; returns its rows and the generated images' expectations."""
    from frvt_submission.imagefile import read_image

    gen = tmp_path_factory.mktemp("hostile") / "gen"
    expected = _hostile_images(gen, read_image(faces["obama"]), read_image(faces["biden"]))
    edge = paths.SHARED_DATA / "frvt_edge"
    r = _hostile11(programs, "cases", str(faces["obama"]), str(gen), *([str(edge)] if edge.is_dir() else []))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]  # exit 1 = a contract violation
    assert r.stderr == ""  # silent even on hostile input
    assert "VIOLATION" not in r.stdout
    return _rows(r.stdout), expected


def _is_failure(row: list[str], count: str = "1") -> bool:
    code, size, n, eyes = row[:4]
    return code != "0" and size == str(FAILURE_BYTES) and n == count and eyes == "0" * int(count)


def test_hostile_images_refused_or_failed(hostile_run):
    rows, _ = hostile_run
    for case in ("null-data", "null-data-0x0", "depth-16", "depth-32", "depth-0", "depth-1", "0-width",
                 "0-height", "0x0", "multi-null", "multi-0x0", "multi-depth-16"):
        assert rows[case][0] == str(REFUSE_INPUT) and _is_failure(rows[case]), case
    assert rows["no-images"][:3] == [str(REFUSE_INPUT), str(FAILURE_BYTES), "0"]
    assert _is_failure(rows["mixed-good-and-bad"], "3")  # one EyePair per image, in order
    for case in ("1x1", "1x1-grey", "strip-65535x1", "strip-1x65535", "strip-65535x2", "odd-333x257",
                 "odd-grey-7x5", "noise-640x480", "noise-4000x6000", "black-grey", "white", "multi-noise"):
        assert rows[case][0] in (str(REFUSE_INPUT), str(FACE_DETECTION_ERROR)) and _is_failure(rows[case]), case


def test_real_face_survives_bad_company(hostile_run):
    rows, _ = hostile_run
    assert rows["face"][0] == "0" and int(rows["face"][1]) > FAILURE_BYTES and rows["face"][3] == "1"
    assert rows["multi-face"][:4] == ["0", rows["face"][1], "1", "1"]
    # A face among null, empty and 16-bit images still gives a template; the eyes stay in order.
    assert rows["face-among-bad"][0] == "0" and rows["face-among-bad"][2:4] == ["4", "0100"]
    assert rows["face-twice"][0] == "0" and rows["face-twice"][3] == "11"


def test_generated_edge_images(hostile_run):
    rows, expected = hostile_run
    assert len(expected) >= 20
    for name, kind in expected.items():
        single, multi = rows[f"edge-gen/{name}"], rows[f"multi-gen/{name}"]
        if kind == "face":
            assert single[0] == "0" and int(single[1]) > FAILURE_BYTES and single[3] == "1", (name, single)
            assert multi[0] == "0" and int(multi[2]) >= 1 and "1" in multi[3], (name, multi)
        elif kind == "faces":
            assert single[0] == "0" and single[3] == "1", (name, single)
            assert multi[0] == "0" and int(multi[2]) >= 2 and set(multi[3]) == {"1"}, (name, multi)
        elif kind == "none":
            assert _is_failure(single) and _is_failure(multi), (name, single, multi)
        else:
            assert single[2] == "1" and int(single[1]) >= FAILURE_BYTES, (name, single)


def test_shared_edge_images(hostile_run, shared_data):
    rows, _ = hostile_run
    if not (shared_data / "frvt_edge").is_dir():
        pytest.skip("../shared/data/frvt_edge is absent")
    assert rows["edge-frvt_edge/rotated90.ppm"][0] == "0" and rows["edge-frvt_edge/rotated180.ppm"][0] == "0"
    assert int(rows["multi-frvt_edge/multi2.ppm"][2]) >= 2  # several people found
    for name in ("black.ppm", "white.ppm"):
        assert _is_failure(rows[f"edge-frvt_edge/{name}"]), name


def test_hostile_templates(hostile_run):
    rows, _ = hostile_run
    for case in ("match-failure-template", "match-failure-both", "match-real-vs-failure", "match-failure-vs-real"):
        assert rows[case][:2] == [str(VERIF_TEMPLATE_ERROR), "-1"], case
    for case in ("match-empty", "match-empty-both", "match-truncated", "match-wrong-version",
                 "match-wrong-dimension", "match-nan", "match-random", "match-real-vs-empty", "match-real-vs-dim64",
                 "match-real-vs-dim512", "match-real-truncated", "match-real-extended",
                 "match-real-consistent-shorter", "match-real-inf", "match-real-failed-flag-with-payload",
                 "match-real-header-only"):
        assert rows[case][:2] == [str(TEMPLATE_FORMAT_ERROR), "-1"], case
    assert rows["match-valid-self"][:2] == ["0", "1e+06"]
    for case in ("match-real-self", "match-real-mixed"):  # the same face: the top of the scale
        assert rows[case][0] == "0" and float(rows[case][1]) > 0.999e6, case


# -- soak -----------------------------------------------------------------------------------

def test_thousand_real_calls_keep_memory_flat(programs, faces):
    """1,000 createFaceTemplate + matchTemplates calls on real faces; RSS after warm-up stays flat."""
    soak_faces = [str(faces[s]) for s in ("obama", "biden", "obama2", "obama_partial_face")]
    r = _hostile11(programs, "soak", str(SOAK_CALLS), str(SOAK_WARMUP), *soak_faces)
    assert r.returncode == 0 and r.stderr == "", r.stdout[-2000:] + r.stderr[-2000:]
    words = r.stdout.split()
    figures = dict(zip(words[1::2], words[2::2]))
    print(f"\nsoak: {figures}")
    # Every call ran the detector and the recognizer: a real template, both eyes, a real score.
    assert int(figures["calls"]) == SOAK_CALLS
    assert int(figures["created"]) == SOAK_CALLS and int(figures["matched"]) == SOAK_CALLS
    warm = int(figures["rss_warm_kb"])
    assert int(figures["rss_end_kb"]) - warm <= SOAK_MAX_GROWTH_KB
    assert int(figures["rss_peak_kb"]) - warm <= SOAK_MAX_GROWTH_KB


# -- fuzzing valid templates ----------------------------------------------------------------

def test_matcher_fuzz_under_sanitizers(programs, real_templates):
    """The native matcher, under ASan + UBSan, on mutants of real templates."""
    r = subprocess.run([str(programs / "fuzz_match"), "200000", "3", *(str(p) for p in real_templates.values())],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-3000:]
    words = r.stdout.split()
    n = dict(zip(words[0::2], map(int, words[1::2])))
    print(f"\nfuzz_match: {n}")
    assert n["real"] == len(real_templates) and n["bad_scores"] == 0 and n["asymmetric"] == 0
    # The fuzz reaches the deep code: most mutants pass magic + version, many parse, many are scored.
    assert n["past_magic"] > 0.6 * n["mutants"]
    assert n["parsed"] > 0.25 * n["mutants"]
    assert n["resized"] > 0.03 * n["mutants"]  # consistent headers of another dim: the dim-mismatch path
    assert n["ok"] > 0.08 * n["mutants"] and n["failed"] > 0.05 * n["mutants"]


HEADER_FIELDS = {4: "<H", 6: "<H", 8: "<I", 12: "<H", 14: "<H"}  # version, flags, dim, n_images, reserved
INTERESTING = (0, 1, 2, 127, 128, 129, 512, template.MAX_DIM, template.MAX_DIM + 1, 0x7FFF, 0x8000, 0xFFFF,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
SPECIAL_FLOATS = (math.nan, math.inf, -math.inf, 1e-45, 3.4028234e38, -0.0, 1e30)


def _mutate_once(t: bytearray, seeds: list[bytes], rng: random.Random) -> bytearray:
    hs = template.HEADER_SIZE
    op = rng.randrange(10)
    if op == 0 and len(t) > hs:  # flip payload bits
        for _ in range(rng.randint(1, 8)):
            t[rng.randrange(hs, len(t))] ^= 1 << rng.randrange(8)
    elif op == 1 and t:  # flip header bits, the magic included
        t[rng.randrange(min(len(t), hs))] ^= 1 << rng.randrange(8)
    elif op == 2 and len(t) >= hs:  # rewrite one header field
        at = rng.choice(list(HEADER_FIELDS))
        fmt = HEADER_FIELDS[at]
        now = struct.unpack_from(fmt, t, at)[0]
        value = rng.choice([rng.choice(INTERESTING), now + rng.randint(-4, 4), rng.getrandbits(32)])
        struct.pack_into(fmt, t, at, value % (1 << (8 * struct.calcsize(fmt))))
    elif op == 3:  # truncate anywhere, or by whole floats
        del t[rng.randrange(len(t) + 1) if rng.random() < 0.5 else max(0, len(t) - 4 * rng.randint(1, 4)):]
    elif op == 4:  # extend with bytes, or with plausible floats
        t += (rng.randbytes(rng.randint(1, 64)) if rng.random() < 0.5 else
              np.random.default_rng(rng.getrandbits(32)).normal(0, 0.1, rng.randint(1, 16)).astype("<f4").tobytes())
    elif op == 5 and len(t) >= hs:  # dim agrees with the length again: a consistent header of another size
        struct.pack_into("<I", t, 8, (len(t) - hs) // 4)
    elif op == 6:  # splice: this head, another seed's tail
        other = rng.choice(seeds)
        cut = rng.randint(0, min(len(t), len(other)))
        t = bytearray(t[:cut] + other[cut:])
    elif op == 7 and len(t) >= hs + 4:  # special floats in the payload
        struct.pack_into("<f", t, hs + 4 * rng.randrange((len(t) - hs) // 4), rng.choice(SPECIAL_FLOATS))
    elif op == 8 and len(t) >= hs:  # mark failed, keeping the payload or as a proper failure template
        struct.pack_into("<H", t, 6, struct.unpack_from("<H", t, 6)[0] | template.FLAG_FAILED)
        if rng.random() < 0.5:
            del t[hs:]
            struct.pack_into("<I", t, 8, 0)
    elif op == 9 and rng.random() < 0.25:  # now and then: bytes that never were a template
        t = bytearray(rng.randbytes(rng.randrange(700)))
    return t


def _mutant(seed: bytes, seeds: list[bytes], rng: random.Random) -> bytes:
    t = bytearray(seed)
    for _ in range(rng.randint(1, 3)):
        t = _mutate_once(t, seeds, rng)
    return bytes(t)


def _parses(t: bytes) -> template.Template | None:
    try:
        return template.decode(t)
    except TemplateFormatError:
        return None


def _expected(a: bytes, b: bytes) -> tuple[int, float]:
    """(return code, score) for match(a, b) by the format's own definition in template.py."""
    score, status = template.match(a, b)  # ok, failed or format
    return {"ok": SUCCESS, "failed": VERIF_TEMPLATE_ERROR, "format": TEMPLATE_FORMAT_ERROR}[status], score


def test_library_matches_mutated_templates_as_the_format_defines(programs, real_templates, tmp_path):
    """matchTemplates of the built library on mutants of real templates: every answer is the one
    frvt_runtime.template gives (code, and score to 0.01 of 1e6), never a crash."""
    rng = random.Random(5)
    real = [p.read_bytes() for p in real_templates.values()]
    dims = [template.encode(np.random.default_rng(d).normal(size=d).astype(np.float32) / math.sqrt(d))
            for d in (1, 64, 512)]
    seeds = real + dims + [template.encode(None)]
    pairs = []
    for _ in range(20000):
        a = _mutant(rng.choice(real) if rng.random() < 0.75 else rng.choice(seeds), seeds, rng)
        b = rng.choice(real) if rng.random() < 0.7 else _mutant(rng.choice(seeds), seeds, rng)
        pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    records = tmp_path / "pairs.bin"
    records.write_bytes(b"".join(struct.pack("<I", len(t)) + t for pair in pairs for t in pair))
    r = _hostile11(programs, "match", str(records), timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stdout[-2000:] + r.stderr[-2000:]
    answers = r.stdout.splitlines()
    assert answers[-1] == "violations 0" and len(answers) == len(pairs) + 1
    mutants = [t for pair in pairs for t in pair if t not in seeds]
    past_magic = sum(len(t) >= 16 and struct.unpack_from("<IH", t) == (template.MAGIC, template.VERSION)
                     for t in mutants)
    parsed = sum(_parses(t) is not None for t in mutants)
    scored = mismatched = 0
    for (a, b), line in zip(pairs, answers):
        code, score = int(line.split()[0]), float(line.split()[1])
        want_code, want = _expected(a, b)
        assert code == want_code, (code, want_code, a.hex(), b.hex())
        pa, pb = _parses(a), _parses(b)
        mismatched += bool(pa and pb and not pa.failed and not pb.failed and pa.embedding.size != pb.embedding.size)
        if code == SUCCESS:
            scored += 1
            assert 0 <= score <= template.SCORE_MAX and abs(score - want) <= 0.01, (score, want)
        else:
            assert score == template.FAILED_SCORE
    print(f"\nlibrary fuzz: pairs {len(pairs)} mutants {len(mutants)} past_magic {past_magic} parsed {parsed} "
          f"scored {scored} dim_mismatch {mismatched}")
    assert past_magic > 0.6 * len(mutants) and parsed > 0.25 * len(mutants)
    assert scored > 0.1 * len(pairs) and mismatched > 0.01 * len(pairs)
