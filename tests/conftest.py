"""Shared fixtures: settings, registry test images, optional ../shared/data, compiled config."""

from __future__ import annotations

import subprocess
import sys

import pytest

from frvt_submission import paths


@pytest.fixture(scope="session")
def settings():
    from frvt_submission.config import load_settings

    return load_settings(paths.SETTINGS_FILE)


@pytest.fixture(scope="session")
def test_images():
    from frvt_submission.testdata import test_images

    return test_images()


@pytest.fixture(scope="session")
def shared_data():
    if not paths.SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return paths.SHARED_DATA


@pytest.fixture(scope="session")
def reference_pipeline(settings):
    """The onnxruntime reference pipeline (same pre/post-processing as the submission)."""
    from frvt_submission.face.pipeline import FacePipeline
    from frvt_submission.models.prepare import cleaned_onnx

    return FacePipeline.from_onnx(settings, cleaned_onnx(settings.detector), cleaned_onnx(settings.recognizer))


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def built(settings, test_images):
    """config/ + lib/ + doc/ (built once if absent) and the driver."""
    lib = paths.SUB_LIB / settings.submission.library_name
    if not (paths.SUB_CONFIG / "models.json").is_file():
        r = _run([sys.executable, "-m", "frvt_submission", "compile"])
        assert r.returncode == 0, r.stdout + r.stderr
    if not lib.is_file():
        r = _run([sys.executable, "-m", "frvt_submission", "build"])
        assert r.returncode == 0, r.stdout + r.stderr
    from frvt_submission.validation.run import build_driver

    driver = build_driver(lib, paths.BUILD / "test-driver", lambda m: None)
    return {"lib": lib, "driver": driver}


@pytest.fixture(scope="session")
def ppm_images(tmp_path_factory, test_images):
    from frvt_submission.face.image import read_image
    from frvt_submission.validation.inputs import write_pnm

    d = tmp_path_factory.mktemp("ppm")
    return {p.stem: write_pnm(read_image(p), d / p.stem) for p in sorted(test_images.iterdir()) if p.suffix != ".csv"}
