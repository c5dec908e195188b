"""Per-stage template times: the runtime's compiled resampling kernels, its numpy fallback and OpenCV, in one process.

`taskset -c 0 python -m frvt_submission.stage_times [--calls N] [--config-dir DIR]`: a
3000x4500 enlargement of a registry photo, the photo itself and a 300 px copy, each
passed as a read-only NIST-style buffer; the runtimes take turns call by call, so all
see the same machine load. "kernels" is the library's path (config/'s resample.so),
"numpy" the same runtime with the kernels off, "opencv" the cv2 calls the runtime made
before it dropped OpenCV. The runtime's cached resampling tables are dropped before
each call, as if every image had a new size (OpenCV caches nothing); --warm keeps
them, as for a run of same-sized images. Prints median (p90) ms per stage and how far
each runtime's outputs are from OpenCV's.
"""

from __future__ import annotations

import os

from frvt_runtime.runtime_env import THREAD_VARIABLES

for _name in THREAD_VARIABLES:
    os.environ[_name] = "1"  # as the library sets them, before numpy loads

import argparse  # noqa: E402
import contextlib  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from frvt_runtime.errors import FrvtError  # noqa: E402

STAGES = ("convert", "resize", "detect", "align", "embed", "total")


def inputs() -> dict[str, np.ndarray]:
    import cv2

    from .imagefile import read_image
    from .testdata import test_images

    photo = read_image(test_images() / "obama.jpg")
    h, w = photo.shape[:2]
    small = cv2.resize(photo, (round(w * 300 / h), 300), interpolation=cv2.INTER_AREA)
    large = cv2.resize(photo, (3000, 4500), interpolation=cv2.INTER_LINEAR)  # as validation/timing.py
    return {f"{large.shape[1]}x{large.shape[0]}": large, f"{w}x{h}": photo,
            f"{small.shape[1]}x{small.shape[0]}": small}


def forget_tables() -> None:
    """Drop the numpy runtime's cached resampling tables (they depend on the image size)."""
    from frvt_runtime import resample_tables as t

    for f in (t.area_band, t.area_taps, t.area_taps32, t.area_value_taps32, t.column_weights, t.warp_grid):
        f.cache_clear()


@contextlib.contextmanager
def numpy_only():
    """The runtime with its compiled resampling kernels off."""
    from frvt_runtime import resample

    saved = resample._kernels
    resample.use_kernels(None)
    try:
        yield
    finally:
        resample.use_kernels(saved)


def one_call(pipeline, raw: bytes, width: int, height: int, warm: bool) -> tuple[dict[str, float], object, list]:
    """Stage times of one template call from a raw buffer, its result, and (untimed) its faces."""
    from frvt_runtime import image

    if not warm:
        forget_tables()
    t0 = time.perf_counter()
    img = image.from_raw(width, height, 24, raw)
    t1 = time.perf_counter()
    result = pipeline.create_template([img])
    t2 = time.perf_counter()
    stages = {"convert": (t1 - t0) * 1e3, **pipeline.stage_ms, "total": (t2 - t0) * 1e3}
    return stages, result, pipeline.find_faces(img)


def same_templates(pipeline, runtimes: dict, folder: Path) -> int:
    """Every photo under folder through each runtime: 0 when all give the same template bytes and
    eye positions as the library's (kernels), else 1, naming the photos that differ."""
    from .imagefile import IMAGE_SUFFIXES, read_image

    if not folder.is_dir():
        print(f"error: --same-on {folder}: " + ("a file: give its folder" if folder.exists() else "no such folder"))
        return 1
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        print(f"no photos under {folder}")
        return 1
    differ = {r: [] for r in runtimes if r != "kernels"}
    unreadable = []
    for i, f in enumerate(files, 1):
        try:
            img = read_image(f)
        except FrvtError:  # an empty or broken file: no photo to compare, named below
            unreadable.append(str(f))
            continue
        out = {}
        for r, ctx in runtimes.items():
            with ctx():
                res = pipeline.create_template([img])
            out[r] = (res.templates, res.eyes, res.code)
        for r in differ:
            if out[r] != out["kernels"]:
                differ[r].append(str(f))
        if i % 100 == 0:
            print(f"{i}/{len(files)} photos", flush=True)
    n = len(files) - len(unreadable)
    if unreadable:
        print(f"{len(unreadable)} file(s) not decodable, left out: {', '.join(unreadable[:10])}")
    for r, names in differ.items():
        print(f"kernels vs {r}: same templates and eyes on {n - len(names)} of {n} photos"
              + (f"; differ: {', '.join(names[:10])}" if names else ""))
    if n == 0:  # (0 of 0 was a pass)
        print(f"no photo under {folder} could be read: nothing compared")
        return 1
    return 1 if any(differ.values()) else 0


def main(argv: list[str] | None = None) -> int:
    from . import paths
    from .cv_reference import opencv_runtime
    from frvt_runtime import template
    from frvt_runtime.pipeline import FacePipeline

    ap = argparse.ArgumentParser(prog="python -m frvt_submission.stage_times", description=__doc__.splitlines()[0],
                                 epilog="Pin it: taskset -c 0. Noisy hosts move every column; compare runtimes "
                                        "within one run.")
    ap.add_argument("--calls", type=int, default=25,
                    help="template calls per runtime and image (default: %(default)s)")
    ap.add_argument("--config-dir", default=str(paths.DEFAULT_OUTPUTS.config), help="a compiled config/ (default: %(default)s)")
    ap.add_argument("--warm", action="store_true", help="keep the resampling tables between calls")
    ap.add_argument("--same-on", metavar="FOLDER", help="instead of timing: check that the three runtimes "
                    "give the same template bytes and eye positions for every photo under FOLDER "
                    "(e.g. ../shared/data)")
    args = ap.parse_args(argv)
    if args.calls < 1:
        ap.error("--calls must be at least 1")

    from .tvm_wheel import wheel_runtime_dir

    try:
        pipeline = FacePipeline.from_config_dir(Path(args.config_dir), wheel_runtime_dir())
    except FrvtError as exc:
        print(f"error: {exc}")
        return 1
    runtimes = {"opencv": opencv_runtime, "kernels": contextlib.nullcontext, "numpy": numpy_only}
    if args.same_on is not None:  # ("" ran the timing instead, without a word)
        if not args.same_on.strip():
            print("error: --same-on names no folder")
            return 1
        return same_templates(pipeline, runtimes, Path(args.same_on))
    print(f"{args.calls} calls per runtime and image, taking turns; median (p90) ms per stage; "
          f"runtime tables {'kept' if args.warm else 'rebuilt every call'}\n")
    print("| image | runtime | " + " | ".join(STAGES) + " |")
    print("|---|---|" + "---|" * len(STAGES))
    notes = []
    for name, img in inputs().items():
        raw, h, w = img.tobytes(), img.shape[0], img.shape[1]
        times = {r: {s: [] for s in STAGES} for r in runtimes}
        last = {}
        for i in range(args.calls + 2):  # two warm-up rounds
            for r, ctx in (list(runtimes.items()) if i % 2 == 0 else list(reversed(runtimes.items()))):
                with ctx():
                    stages, result, faces = one_call(pipeline, raw, w, h, args.warm)
                if i >= 2:
                    for s in STAGES:
                        times[r][s].append(stages.get(s, 0.0))
                last[r] = (result, faces)
        for r in runtimes:
            cells = [f"{np.median(v):.2f} ({np.percentile(v, 90):.2f})" for v in times[r].values()]
            print(f"| {name} | {r} | " + " | ".join(cells) + " |")
        ra, fa = last["opencv"]
        for r in ("kernels", "numpy"):
            rb, fb = last[r]
            ea, eb = template.decode(ra.templates[0]).embedding, template.decode(rb.templates[0]).embedding
            lm = max((float(np.abs(a.landmarks - b.landmarks).max()) for a, b in zip(fa, fb)), default=0.0)
            notes.append(f"{name}, {r} vs opencv: {len(fb)}/{len(fa)} faces, max landmark difference {lm:.4f} px, "
                         f"embedding cosine {float(ea @ eb):.6f}, templates equal: {ra.templates == rb.templates}, "
                         f"eyes equal: {ra.eyes == rb.eyes}")
    print()
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
