"""Which settings file the tooling reads, and reading it with its model paths made absolute."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from frvt_runtime.config import Settings
from frvt_runtime.config import load_settings as parse_settings
from . import paths

LOCAL_NAME = "frvt.toml"  # looked for in the working folder


def settings_path(given: str | Path | None = None) -> Path:
    """The settings file in force, absolute: `given` (--settings) if any; else ./frvt.toml in the
    working folder if there is one; else the project's own frvt.toml."""
    if given:
        return Path(given).resolve()
    local = Path.cwd() / LOCAL_NAME
    return local.resolve() if local.is_file() else paths.SETTINGS_FILE


def settings_line(path: str | Path) -> str:
    """How a command names the settings file it read (its first line of output)."""
    return f"settings: {path}"


def load_settings(path: str | Path) -> Settings:
    """The settings in `path`, each model's relative `path` made absolute against the file's folder:
    a settings file names its models where it lies, whatever folder a command runs from."""
    path = Path(path)
    s = parse_settings(path)
    folder = path.resolve().parent

    def anchored(spec):
        if not spec.path or Path(spec.path).is_absolute():
            return spec
        return dataclasses.replace(spec, path=str(folder / spec.path))

    return dataclasses.replace(s, detector=anchored(s.detector), recognizer=anchored(s.recognizer))
