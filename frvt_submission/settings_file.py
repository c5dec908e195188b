"""Which settings file the tooling reads: --settings, else ./frvt.toml, else the project's."""

from __future__ import annotations

from pathlib import Path

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
