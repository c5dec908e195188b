"""`frvt calibrate`: the recognizer's int8 calibration (quantization/<model>.json, .weights.npz) from real faces."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .common import add_command, log, progress, settings

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".pgm")


def default_image_dirs() -> list[Path]:
    """The registry test images, and one shared set when ../shared is here (the other shared sets
    stay unseen, for measuring the accuracy int8 keeps)."""
    from .. import paths
    from ..testdata import test_images

    dirs = [test_images()]
    if (paths.SHARED_DATA / "deepface_tests").is_dir():
        dirs.append(paths.SHARED_DATA / "deepface_tests")
    return dirs


def aligned_faces(s, images: list[Path], report=None, unreadable: list[str] | None = None):
    """Each image's chosen face, aligned as the recognizer gets it (the onnxruntime reference
    pipeline, fp32 throughout). unreadable: gets why each image that could not be read was not."""
    from frvt_runtime.errors import FrvtError, RefuseInput
    from ..imagefile import read_image
    from ..reference import reference_pipeline

    pipe = reference_pipeline(dataclasses.replace(s, recognizer=dataclasses.replace(s.recognizer, int8=False)))
    crops = []
    embed = pipe.recognizer.embed_aligned

    def keep(crop):
        crops.append(crop.copy())
        return embed(crop)

    pipe.recognizer.embed_aligned = keep
    for i, path in enumerate(images):
        try:
            image = read_image(path)
        except RefuseInput as exc:
            if unreadable is not None:
                unreadable.append(str(exc))
        else:
            try:
                pipe.embedding_of(image)
            except FrvtError:  # no face: nothing to calibrate on
                pass
        if report:
            report(i + 1, len(images))
    return crops


def cmd_calibrate(args) -> int:
    from frvt_runtime.config_dir import sha256_of
    from frvt_runtime.errors import ConfigError
    from ..models.prepare import clean_fp32_onnx
    from ..models.quantize import calibrate, calibration_file, weights_file, write_calibration
    from ..models.sources import fetch_model
    from ..reference import to_tensor

    s = settings(args)
    rec = s.recognizer
    dirs = [Path(d) for d in args.images] if args.images else default_image_dirs()
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise ConfigError(f"not a folder: {', '.join(missing)}")
    images = sorted(p for d in dirs for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    log(f"calibrate: {len(images)} images in {', '.join(str(d) for d in dirs)}")
    unreadable: list[str] = []
    crops = aligned_faces(s, images, progress("aligned", "images"), unreadable)
    if unreadable:
        from ..evaluate import unreadable_line

        log(unreadable_line("calibrate", unreadable, len(images), "are left out"))
    original = fetch_model(rec)
    tensors = (to_tensor(c, rec.colour, rec.mean, rec.scale) for c in crops)
    cal = calibrate(clean_fp32_onnx(rec, log), tensors, sha256_of(original), log)
    cal["images"] = sorted({str(d.name) for d in dirs})
    out = calibration_file(original.stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_calibration(cal, out)
    log(f"wrote {out} and {weights_file(out).name}; with int8 = true under [recognizer], `tune --new-only` then `compile` use it")
    return 0


def register(sub) -> None:
    p = add_command(sub, "calibrate", cmd_calibrate,
                    "int8 calibration of the recognizer's convs from real faces (quantization/<model>.json and "
                    ".weights.npz)")
    p.add_argument("--images", nargs="+", metavar="DIR", default=None,
                   help="folders of face photos (searched recursively); default: the registry test images, "
                        "and ../shared/data/deepface_tests when present. Keep the images you measure "
                        "accuracy on out of it")
