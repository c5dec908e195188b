"""The runtime reads config/ and nothing else: no settings file, gpg, budgets or model sources in frvt_runtime."""

import dataclasses
import re

import pytest

from frvt_runtime import config
from frvt_submission import paths

# What only the build knows: [submission]'s facts, each model's source and conv layout.
BUILD_ONLY = {"company", "sequence", "target", "budget_template_ms", "budget_match_ms", "max_failure_to_enrol",
              "gpg_key", "gpg_recipient", "wheel", "member", "path", "sha256", "layout"}


@pytest.mark.parametrize("spec", [config.ModelSpec, config.DetectorSpec, config.RecognizerSpec,
                                  config.PipelineSpec, config.RuntimeSettings])
def test_the_runtime_specs_hold_no_build_time_field(spec):
    assert not {f.name for f in dataclasses.fields(spec)} & BUILD_ONLY


def test_no_runtime_source_mentions_gpg_budgets_or_model_sources():
    """config_dir.py checks each compiled model's sha256 from models.json, and config.py drops the
    build-time keys older pipeline.json files carry: "sha256" may appear, these words may not."""
    words = re.compile(r"gpg|budget|wheel|\bmember\b|settings file|frvt\.toml|submission_spec|SubmissionSpec", re.I)
    found = [f"{f.relative_to(paths.ROOT)}:{i}: {line.strip()}"
             for f in sorted((paths.ROOT / "frvt_runtime").rglob("*.py"))
             for i, line in enumerate(f.read_text().splitlines(), 1) if words.search(line)]
    assert not found, "the runtime knows nothing of settings files, gpg, budgets or wheels:\n" + "\n".join(found)


def test_the_runtime_imports_nothing_of_the_tooling():
    found = [str(f.relative_to(paths.ROOT)) for f in sorted((paths.ROOT / "frvt_runtime").rglob("*.py"))
             if re.search(r"^\s*(from|import)\s+frvt_submission", f.read_text(), re.M)]
    assert not found
