"""The part of frvt.toml each make step reads, one file per step, rewritten only when it changes.

make compares file times, and frvt.toml is one file: without these, a new gpg key id would
recompile the models. Each step's rule depends on its own stamp instead (see the Makefile).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .config import Settings

# step -> the settings it reads: a section, or "section.field" for part of one.
STEP_SETTINGS = {
    "compile": ("detector", "recognizer", "pipeline", "submission.target"),
    "build": ("submission.company", "submission.sequence"),
    "validate": ("submission.budget_template_ms", "submission.budget_match_ms", "submission.max_failure_to_enrol"),
    "package": ("submission.gpg_key", "submission.gpg_recipient"),
}


def _value(settings: Settings, key: str):
    section, _, field = key.partition(".")
    value = dataclasses.asdict(getattr(settings, section))
    return value[field] if field else value


def step_settings(settings: Settings) -> dict[str, dict]:
    return {step: {key: _value(settings, key) for key in keys} for step, keys in STEP_SETTINGS.items()}


def write_stamps(settings: Settings, folder: Path) -> list[str]:
    """Write folder/<step>.json for each step whose settings changed (or are new); return those steps."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for step, values in step_settings(settings).items():
        text = json.dumps(values, indent=1, sort_keys=True) + "\n"
        f = folder / f"{step}.json"
        if not f.is_file() or f.read_text() != text:
            f.write_text(text)
            changed.append(step)
    return changed
