"""Shared fixtures: settings, registry test images, optional ../shared/data, compiled config."""

from __future__ import annotations

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
