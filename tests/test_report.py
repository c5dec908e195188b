"""`frvt report`: a self-contained page whose every picture decodes, checked in headless Chromium when installed."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import pytest

from frvt_submission import paths


@pytest.fixture(scope="module")
def report(built, settings, test_images, tmp_path_factory):
    from frvt_runtime.pipeline import FacePipeline
    from frvt_submission.tvm_wheel import wheel_runtime_dir
    from frvt_submission.report import write_report

    out = tmp_path_factory.mktemp("report") / "report.html"
    pipeline = FacePipeline.from_config_dir(paths.DEFAULT_OUTPUTS.config, wheel_runtime_dir())
    return write_report(settings, pipeline, [test_images / "pairs.csv"], out, paths.DEFAULT_OUTPUTS.validation_output,
                        [paths.DEFAULT_OUTPUTS.timing, paths.DEFAULT_OUTPUTS.validation_output],
                        paths.DEFAULT_OUTPUTS, lambda m: None)


def test_report_is_self_contained_with_real_pictures(report):
    from PIL import Image

    page = report.read_text()
    for section in ("<h2>Accuracy</h2>", "<h2>Validation</h2>", "<h2>Timing</h2>", "<h2>Sizes and build</h2>"):
        assert section in page
    assert "test_images" in page and "FNMR@FMR=1e-02" in page
    # which backend made the embeddings (a reference page looked the same as the build's)
    assert "Embeddings from the compiled models of config/ (TVM runtime, in this process)." in page
    assert not re.search(r'src="(?!data:)', page) and "<link" not in page  # nothing fetched from elsewhere
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert {"DET and ROC curves", "genuine and impostor score histograms"} <= {alt for alt, _ in images}
    for alt, data in images:
        im = Image.open(io.BytesIO(base64.b64decode(data)))
        im.verify()
        assert im.size[0] > 300 and im.size[1] > 150, alt


def _chromium_check(page_file) -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("headless Chromium is not installed (Debian: apt install chromium)")
    r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                        "--virtual-time-budget=3000", "--dump-dom", page_file.as_uri()],
                       capture_output=True, text=True, timeout=120)
    found = re.search(r'<body[^>]*data-check="([^"]*)"', r.stdout)
    assert found, r.stdout[:500] + r.stderr[-500:]
    return found.group(1)


def test_report_renders_in_headless_chromium(report, tmp_path):
    assert _chromium_check(report) == "ok"
    # The page's own check fails on a broken picture and on a layout wider than the window.
    broken = tmp_path / "broken.html"
    broken.write_text(report.read_text().replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1))
    assert "broken image" in _chromium_check(broken)
    wide = tmp_path / "wide.html"
    wide.write_text(report.read_text().replace("</h1>", "</h1><div style='width:5000px'>x</div>", 1))
    assert "wider than the window" in _chromium_check(wide)


def test_a_set_of_one_kind_of_pair_draws_without_numpy_warnings():
    """A set of genuine pairs only printed three numpy RuntimeWarnings (an empty mean, a 0/0
    density) into report's output."""
    import warnings

    import numpy as np

    from frvt_submission.curves import det_roc_png, histograms_png

    one_kind = {"genuine only": (np.array([0.5, 0.7]), np.array([])), "impostor only": (np.array([]), np.array([0.1]))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for draw in (det_roc_png, histograms_png):
            assert draw(one_kind, 0.363).startswith(b"\x89PNG")
            assert draw({**one_kind, "both": (np.array([0.6]), np.array([0.0, 0.2]))}, 0.363).startswith(b"\x89PNG")

