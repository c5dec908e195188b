"""Alignment: the similarity estimate recovers known transforms and the warp lands landmarks on the template."""

import numpy as np
import pytest

from frvt_runtime.align import similarity_transform, warp

TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]])


def _apply(m, pts):
    return pts @ m[:, :2].T + m[:, 2]


@pytest.mark.parametrize("angle,scale,tx,ty", [(0.0, 1.0, 0, 0), (0.3, 2.5, 100, -40), (-2.0, 0.4, 7, 300)])
def test_recovers_known_similarity(angle, scale, tx, ty):
    c, s = np.cos(angle), np.sin(angle)
    known = np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])
    src = _apply(known, TEMPLATE)
    # estimate the inverse: from the transformed points back to the template
    m = similarity_transform(src, TEMPLATE)
    np.testing.assert_allclose(_apply(m, src), TEMPLATE, atol=1e-9)
    inv = similarity_transform(TEMPLATE, src)
    np.testing.assert_allclose(inv, known, atol=1e-9)


def test_never_reflects():
    mirrored = TEMPLATE * [-1, 1]
    m = similarity_transform(mirrored, TEMPLATE)
    assert np.linalg.det(m[:, :2]) > 0  # a similarity, not a reflection


def test_warp_puts_marked_pixels_on_template():
    img = np.zeros((400, 300, 3), np.uint8)
    c, s = np.cos(0.2), np.sin(0.2)
    known = np.array([[2 * c, -2 * s, 60], [2 * s, 2 * c, 40]])
    pts = _apply(known, TEMPLATE)
    for x, y in pts:
        img[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2] = 255
    crop = warp(img, pts, TEMPLATE, (112, 112))
    assert crop.shape == (112, 112, 3)
    for x, y in TEMPLATE:
        assert crop[int(round(y)), int(round(x))].max() > 100


def _umeyama_svd(src, dst):
    """The textbook Umeyama estimate, via the SVD of the 2x2 covariance."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d_c.T @ s_c / len(src))
    d = np.array([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    scale = (sig * d).sum() / ((s_c ** 2).sum() / len(src))
    rot = scale * (u @ np.diag(d) @ vt)
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


def test_closed_form_equals_the_svd_estimate():
    rng = np.random.default_rng(0)
    for i in range(500):
        pts = TEMPLATE * rng.uniform(0.05, 20) + rng.uniform(-100, 4000, 2) + rng.normal(0, 10, (5, 2))
        if i % 3 == 0:
            pts = pts[:, ::-1]  # a mirrored face: the best proper rotation, not a reflection
        np.testing.assert_allclose(similarity_transform(pts, TEMPLATE), _umeyama_svd(pts, TEMPLATE),
                                   rtol=1e-10, atol=1e-9)
