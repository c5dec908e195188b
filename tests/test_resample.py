"""The runtime's resampling (compiled kernels and numpy) against OpenCV on real faces, the pipeline with and without OpenCV, no cv2 in the runtime."""

import ast
import csv
from pathlib import Path

import numpy as np
import pytest

from frvt_runtime import resample, resample_tables
from frvt_runtime.align import similarity_transform
from frvt_submission import cv_reference, paths
from frvt_submission.imagefile import read_image

cv2 = pytest.importorskip("cv2")  # the reference: a tooling dependency, never the runtime's
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]])
PER_SET = 4  # photos taken from each ../shared/data set (the first ones of its pairs.csv)


@pytest.fixture(scope="session")
def compiled_kernels(tmp_path_factory):
    """The resampling kernels compiled for this host, as compile puts them into config/."""
    from frvt_runtime.resample_kernels import ResampleKernels
    from frvt_submission.compile.resample_kernels import build_resample_kernels
    from frvt_submission.compile.tvm_build import resolve_target
    from frvt_submission.tvm_wheel import wheel_runtime_dir

    so = tmp_path_factory.mktemp("kernels") / "resample.so"
    build_resample_kernels(resolve_target("host"), so, log=lambda m: None)
    return ResampleKernels(so, wheel_runtime_dir())


@pytest.fixture(params=["kernels", "numpy"])
def backend(request, compiled_kernels):
    """Each test below runs with the compiled kernels (the library's path) and with numpy alone."""
    saved = resample._kernels
    resample.use_kernels(compiled_kernels if request.param == "kernels" else None)
    yield request.param
    resample.use_kernels(saved)


def _registry(test_images) -> list[np.ndarray]:
    return [read_image(p) for p in sorted(test_images.iterdir()) if p.suffix != ".csv"]


def _shared(shared_data) -> list[np.ndarray]:
    out = []
    for pairs in sorted(Path(shared_data).glob("*/pairs.csv")):
        with open(pairs) as f:
            names = list(dict.fromkeys(r["img1"] for r in csv.DictReader(f)))[:PER_SET]
        out += [read_image(Path(shared_data) / n) for n in names]
    return out


def _large(img: np.ndarray) -> np.ndarray:
    """A 3000x4500 enlargement, as validation/timing.py makes NIST's large class."""
    return cv2.resize(img, (3000, 4500), interpolation=cv2.INTER_LINEAR)


def _diff(a: np.ndarray, b: np.ndarray, share: float = 1e-4) -> int:
    """The largest difference in grey levels; fewer than `share` of the values may differ at all
    (a systematic rounding slip moves a quarter of them by 1)."""
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert np.count_nonzero(d) <= share * d.size, f"{np.count_nonzero(d)} of {d.size} values differ"
    return int(d.max())


def _detector_size(img: np.ndarray, side: int = 640) -> tuple[int, int]:
    h, w = img.shape[:2]
    s = min(side / max(h, w), 1.0)
    return max(1, round(w * s)), max(1, round(h * s))


def _check_resizes(images: list[np.ndarray]) -> None:
    for img in images:
        h, w = img.shape[:2]
        if h >= 2 and w >= 2:
            half = cv2.resize(img[: h // 2 * 2, : w // 2 * 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            assert _diff(resample.halve(img), half) <= 1
        for f in (0.9, 0.56, 0.34):
            size = (max(1, round(w * f)), max(1, round(h * f)))
            want = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            assert _diff(resample.resize_area(img, size), want) <= 1, (img.shape, size)
            want = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
            assert _diff(resample.resize_linear(img, size), want) <= 1, (img.shape, size)
        size = _detector_size(img)  # the staged shrink the detector's input goes through
        assert _diff(resample.area_downscale(img, size), cv_reference.downscale_to(img, size, "area")) <= 1


def _check_warps(images: list[np.ndarray], rng) -> None:
    for img in images:
        h, w = img.shape[:2]
        for _ in range(4):  # faces of many sizes and angles, some hanging over the image's edge
            scale, angle = rng.uniform(0.3, max(h, w) / 100), rng.uniform(-0.6, 0.6)
            rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            pts = (TEMPLATE - 56) @ rot.T * scale + [rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h]
            m = similarity_transform(pts, TEMPLATE)
            want = cv2.warpAffine(img, m, (112, 112), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            assert _diff(resample.warp_affine(img, m, (112, 112)), want) <= 1, (img.shape, m)
            grey = np.ascontiguousarray(img[:, :, 1])
            want = cv2.warpAffine(grey, m, (112, 112), flags=cv2.INTER_LINEAR)
            assert _diff(resample.warp_affine(grey, m, (112, 112)), want) <= 1


def test_resizes_match_opencv_on_registry_photos(backend, test_images):
    images = _registry(test_images)
    _check_resizes(images + [_large(images[2])])


def test_resizes_match_opencv_on_shared_photos(backend, shared_data):
    _check_resizes(_shared(shared_data))


def test_warps_match_opencv_on_registry_photos(backend, test_images):
    images = _registry(test_images)
    _check_warps(images + [_large(images[2])], np.random.default_rng(1))


def test_warps_match_opencv_on_shared_photos(backend, shared_data):
    _check_warps(_shared(shared_data), np.random.default_rng(2))


def test_kernels_read_nist_frames_in_place_at_any_address(compiled_kernels, test_images):
    """NIST's frame is read-only and may start at any byte: the kernels read it there, unchanged,
    with OpenCV's bytes (a 64-byte alignment assumption crashed on such memory)."""
    from frvt_runtime.image import from_raw

    img = _large(read_image(test_images / "obama.jpg"))
    h, w = img.shape[:2]
    saved = resample._kernels
    resample.use_kernels(compiled_kernels)
    try:
        for offset in (1, 3, 7):
            raw = bytes(offset) + img.tobytes()
            frame = from_raw(w, h, 24, memoryview(raw)[offset:])
            assert not frame.flags.writeable and frame.ctypes.data % 2 == 1  # odd: no alignment at all
            size = _detector_size(img)
            assert np.array_equal(resample.area_downscale(frame, size), cv_reference.downscale_to(img, size, "area"))
            m = similarity_transform(TEMPLATE * 9 + [1300, 900], TEMPLATE)
            want = cv2.warpAffine(img, m, (112, 112), flags=cv2.INTER_LINEAR)
            assert np.array_equal(resample.warp_affine(frame, m, (112, 112)), want)
            assert raw[offset:] == img.tobytes()
    finally:
        resample.use_kernels(saved)


def test_both_warp_kernels_give_opencvs_bytes_for_a_face_inside(compiled_kernels, test_images):
    """warp_inside_rgb (taken when the whole crop lies in the frame) and warp_rgb (any matrix,
    border included) on the same faces: both equal cv2.warpAffine."""
    img = _large(read_image(test_images / "obama.jpg"))
    rng = np.random.default_rng(4)
    for _ in range(10):
        pts = TEMPLATE * rng.uniform(2, 10) + rng.uniform(500, 1500, 2)  # the crop lies inside the frame
        m = similarity_transform(pts, TEMPLATE)
        a, b, c, d, e, f = resample_tables.invert_affine_f32(m)
        want = cv2.warpAffine(img, m, (112, 112), flags=cv2.INTER_LINEAR)
        for inside in (True, False):
            got = compiled_kernels.warp(img, np.array((a, d, b, e, c, f), np.float32), (112, 112), inside)
            assert np.array_equal(got, want), inside


def test_area_kernel_redoes_the_values_near_a_half(compiled_kernels, test_images):
    """The kernel sums rows first, OpenCV columns first: on real photos some values land within
    float error of x.5, and only redoing them in OpenCV's order gives OpenCV's bytes."""
    img = read_image(test_images / "obama.jpg")
    h, w = img.shape[:2]
    size = (round(w * 0.56), round(h * 0.56))
    out, near = compiled_kernels.area(img, resample_tables.area_taps32(h, size[1]),
                                      resample_tables.area_value_taps32(w, size[0]))
    want = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    differ = np.flatnonzero(out != want)
    assert near.size > 0 and differ.size > 0 and set(differ) <= set(near)  # the kernel alone is not exact
    out.reshape(-1)[near] = resample._area_exact(img, near, size, 3, 3)
    assert np.array_equal(out, want)


def test_config_dir_installs_its_kernels_and_a_config_without_them_resamples_in_numpy(built, tmp_path, test_images):
    """config/'s resample.so is what the pipeline resamples with; a config/ written before the
    kernels existed still loads, resamples in numpy and gives the same template bytes."""
    import json
    import shutil

    from frvt_runtime.config_dir import KERNELS, KERNELS_FILE, MANIFEST_FILE, running_path
    from frvt_runtime.pipeline import FacePipeline
    from frvt_submission.tvm_wheel import wheel_runtime_dir

    img = _large(read_image(test_images / "obama.jpg"))
    saved = resample._kernels
    try:
        pipeline = FacePipeline.from_config_dir(paths.DEFAULT_OUTPUTS.config, wheel_runtime_dir())
        assert resample._kernels is not None and resample._kernels.path == paths.DEFAULT_OUTPUTS.config / running_path(paths.DEFAULT_OUTPUTS.config) / KERNELS_FILE
        with_kernels = pipeline.create_template([img]).templates
        old = tmp_path / "cfg"
        shutil.copytree(paths.DEFAULT_OUTPUTS.config, old)
        manifest = json.loads((old / MANIFEST_FILE).read_text())
        path = running_path(old)
        del manifest["paths"][path]["models"][KERNELS]
        (old / MANIFEST_FILE).write_text(json.dumps(manifest))
        (old / path / KERNELS_FILE).unlink()
        pipeline = FacePipeline.from_config_dir(old, wheel_runtime_dir())
        assert resample._kernels is None
        assert pipeline.create_template([img]).templates == with_kernels
    finally:
        resample.use_kernels(saved)


def test_warp_degenerate_matrices_give_black_like_opencv(backend):
    img = np.random.default_rng(3).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    for m in (np.zeros((2, 3)), np.full((2, 3), np.nan), [[1e-12, 0, 5], [0, 1e-12, 5]], [[1, 0, 500], [0, 1, 0]]):
        want = cv2.warpAffine(img, np.asarray(m, float), (112, 112), flags=cv2.INTER_LINEAR)
        assert _diff(resample.warp_affine(img, np.asarray(m, float), (112, 112)), want) <= 1


def _pipeline_images(test_images, shared) -> list[np.ndarray]:
    images = _registry(test_images)
    return images + [_large(images[2])] + shared


def _compare_pipelines(pipeline, images) -> None:
    from frvt_runtime import template

    for img in images:
        with cv_reference.opencv_runtime():
            faces_cv = pipeline.find_faces(img)
            emb_cv = template.decode(pipeline.create_template([img]).templates[0]).embedding
        faces = pipeline.find_faces(img)
        emb = template.decode(pipeline.create_template([img]).templates[0]).embedding
        assert len(faces) == len(faces_cv), img.shape
        for a, b in zip(faces, faces_cv):
            assert np.abs(a.landmarks - b.landmarks).max() <= 0.01, img.shape
            assert np.abs(np.subtract(a.box, b.box)).max() <= 0.01
        assert (emb is None) == (emb_cv is None)
        if emb is not None:
            assert float(emb @ emb_cv) > 0.9999, img.shape


def test_pipeline_landmarks_without_opencv_on_registry_photos(backend, reference_pipeline, test_images):
    """The detector's landmarks, with the runtime's numpy resampling and with the OpenCV calls
    it replaced, within 0.01 px; the embeddings as good as equal."""
    _compare_pipelines(reference_pipeline, _pipeline_images(test_images, []))


def test_pipeline_landmarks_without_opencv_on_shared_photos(backend, reference_pipeline, shared_data):
    _compare_pipelines(reference_pipeline, _shared(shared_data))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def test_no_runtime_module_imports_cv2():
    files = sorted((paths.ROOT / "frvt_runtime").rglob("*.py"))
    assert files
    offenders = [str(f.relative_to(paths.ROOT)) for f in files if "cv2" in _imports(f)]
    assert offenders == []


def test_bundle_carries_no_opencv():
    from frvt_submission.bridge import bundle

    assert not {"cv2", "opencv_python_headless.libs"} & set(bundle.RUNTIME_PACKAGES + bundle.RUNTIME_EXTRAS)


def test_colour_frames_are_read_only_views_and_stay_unchanged(reference_pipeline, test_images):
    from frvt_runtime.image import from_raw

    img = read_image(test_images / "obama.jpg")
    raw = bytearray(img.tobytes())  # writable, as NIST's buffer is
    frame = from_raw(img.shape[1], img.shape[0], 24, raw)
    assert np.shares_memory(frame, np.frombuffer(raw, np.uint8)) and not frame.flags.writeable
    with pytest.raises(ValueError):
        frame[0, 0, 0] = 1
    result = reference_pipeline.create_template([frame])
    assert result.code == 0 and bytes(raw) == img.tobytes()


def test_kernels_loaded_first_in_a_fresh_process_give_numpys_bytes(built, test_images):
    """ResampleKernels loads the TVM runtime itself: loaded before any model in a process without
    the compiler (seen: the benchmark did so and crashed at the first template), the kernels run."""
    import subprocess
    import sys

    code = f"""
import numpy as np
from frvt_runtime import resample, resample_tables
from frvt_runtime.config_dir import KERNELS_FILE, running_path
from frvt_runtime.resample_kernels import ResampleKernels
from frvt_submission.imagefile import read_image
from frvt_submission.tvm_wheel import wheel_runtime_dir
config = __import__("pathlib").Path({str(paths.DEFAULT_OUTPUTS.config)!r})
kernels = ResampleKernels(config / running_path(config) / KERNELS_FILE, wheel_runtime_dir())
img = read_image({str(test_images / "obama.jpg")!r})
size = (img.shape[1] // 3, img.shape[0] // 3)
want = resample.area_downscale(img, size)
resample.use_kernels(kernels)
assert np.array_equal(resample.area_downscale(img, size), want)
print("same bytes")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "same bytes" in r.stdout, r.stdout + r.stderr
