"""Evaluation: pairs CSV parsing, FNMR@FMR arithmetic, and the registry images end to end."""

import numpy as np
import pytest

from frvt_runtime.errors import ConfigError
from frvt_submission.evaluate import evaluate, fnmr_at_fmr, read_pairs


def test_fnmr_at_fmr_arithmetic():
    imp = np.linspace(-0.5, 0.3, 100)  # highest impostor 0.3, next 0.2919...
    gen = np.array([0.25, 0.35, 0.5, 0.9])
    # FMR 1e-2 of 100 impostors lets one impostor through: threshold = 2nd highest
    assert fnmr_at_fmr(gen, imp, 1e-2) == pytest.approx(0.25)
    assert fnmr_at_fmr(gen, imp, 1e-3) is None  # too few impostors


def test_bad_csv(tmp_path):
    p = tmp_path / "pairs.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="missing column"):
        read_pairs(p)


def test_registry_images_all_correct(reference_pipeline, test_images):
    r = evaluate(reference_pipeline, read_pairs(test_images / "pairs.csv"), 0.363)
    assert r["pairs"] == 21 and r["fte"] == 0
    assert r["accuracy"] == 1.0
