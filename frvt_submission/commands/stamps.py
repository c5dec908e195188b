"""`frvt stamps` (the Makefile's plumbing): each make step's part of the settings, one file per step."""

from __future__ import annotations

from pathlib import Path

from .common import add_command, log, output_option, settings


def cmd_stamps(args) -> int:
    from ..stamps import write_stamps

    changed = write_stamps(settings(args), Path(args.folder))
    if changed:
        log(f"settings changed for: {', '.join(changed)}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "stamps", cmd_stamps, "(the Makefile's plumbing) write build/settings/<step>.json, the "
                    "settings each make step reads, rewriting only changed ones (the Makefile's dependencies on "
                    "frvt.toml)")
    output_option(p, "--folder", lambda o: o.settings_stamps, "build/settings/", "where the stamps go",
                  written="folder")
