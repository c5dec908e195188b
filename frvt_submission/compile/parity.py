"""TVM vs onnxruntime on real faces: recognizer cosine on aligned crops, detector boxes/landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import Settings
from frvt_runtime.config_dir import load_models, model_entries, read_manifest
from frvt_runtime.detect import Detector
from frvt_runtime.embed import Recognizer
from ..reference import reference_pipeline
from ..imagefile import read_image
from ..tvm_wheel import wheel_runtime_dir

MIN_COSINE = 0.9999  # float models: the same embedding but for float summation order
# int8 convs: the integer sums are exact, but a float difference of ~1e-7 before a quantizer flips
# its rounding by one step here and there, and the flips add up over 13 layers. onnxruntime against
# itself (graph optimizations on vs off) gives 0.99986 on SFace's int8 model, 60 real faces.
MIN_COSINE_INT8 = 0.999
MAX_PIXELS = 1.0


def min_cosine(entries: dict) -> float:
    """The parity bound for a code path's compiled models (models.json entries): int8 if any is."""
    return MIN_COSINE_INT8 if any(e.get("int8_convs") for e in entries.values()) else MIN_COSINE


def check_parity(settings: Settings, config_dir: Path, images: list[Path], code_path: str) -> dict:
    """One code path's compiled models of config_dir vs the cleaned ONNX under onnxruntime; worst
    case over images.

    Run it in a process that has not imported the TVM compiler (the CLI runs it as a
    child process): that is the deployed, runtime-only path, and the compiler and the
    standalone runtime do not coexist safely in one process.
    """
    det_s, rec_s = settings.detector, settings.recognizer
    manifest = read_manifest(config_dir)
    names = [det_s.at_size(size).name for size in det_s.sizes()] + ["recognizer"]
    tvm = load_models(config_dir, manifest, code_path, names, wheel_runtime_dir()).__getitem__

    # Each compiled size against onnxruntime at the same size, on every image (letterboxed, and
    # shrunk when larger): the pipeline picks a size per image, parity checks every size.
    ref = reference_pipeline(settings)
    detectors = []
    for size in det_s.sizes():
        at = det_s.at_size(size)
        detectors.append((Detector(at, ref.detector.infers[size], settings.pipeline.downscale),
                          Detector(at, tvm(at.name), settings.pipeline.downscale)))
    ref_rec = ref.recognizer
    tvm_rec = Recognizer(rec_s, tvm("recognizer"))
    cosines, box_px, kps_px, faces_seen = [], [], [], 0
    for path in images:
        image = read_image(path)
        for ref_det, tvm_det in detectors:
            ref, got = ref_det.detect(image), tvm_det.detect(image)
            if len(ref) != len(got):
                box_px.append(np.inf)
                continue
            for a, b in zip(ref, got):
                faces_seen += 1
                box_px.append(float(np.max(np.abs(np.subtract(a.box, b.box)))))
                kps_px.append(float(np.max(np.abs(a.landmarks - b.landmarks))))
                crop = ref_rec.align(image, a.landmarks)  # same crop for both: isolates the network
                cosines.append(float(np.dot(ref_rec.embed_aligned(crop), tvm_rec.embed_aligned(crop))))
    result = {
        "path": code_path, "cpu": manifest["paths"][code_path]["cpu"], "images": len(images),
        "sizes": [list(s) for s in det_s.sizes()], "faces": faces_seen,
        "min_cosine": min(cosines) if cosines else None,
        "max_box_px": max(box_px) if box_px else None,
        "max_landmark_px": max(kps_px) if kps_px else None,
        "cosine_bound": min_cosine(model_entries(manifest, code_path)),
    }
    result["ok"] = bool(cosines) and result["min_cosine"] >= result["cosine_bound"] and \
        result["max_box_px"] <= MAX_PIXELS and result["max_landmark_px"] <= MAX_PIXELS
    return result
