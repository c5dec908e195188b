"""`frvt config`: every setting in force, defaults filled in, and the CPU the target compiles for here."""

from __future__ import annotations

from pathlib import Path

from .common import add_command, class_text, log


def cmd_config(args) -> int:
    """Every setting in force, defaults filled in, and the CPU the target compiles for here."""
    import dataclasses
    import json

    from ..config import load_settings, outputs_line, settings_line

    log(f"# {settings_line(args.settings)}")  # a TOML comment: the output stays a settings file
    if not args.outputs.is_default:
        log(f"# {outputs_line(args.outputs)}")
    s = load_settings(Path(args.settings))
    for section in dataclasses.fields(s):
        log(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(s, section.name)).items():
            if key != "name":  # a model section's own name, not a setting
                log(f"{key} = {json.dumps(value)}")
    # (imported after the settings are out: the compiler's modules take a while to load)
    from ..compile.build_models import path_targets
    from ..compile.isa_class import target_class
    from ..compile.tvm_build import resolve_target, target_tag

    for name, cpu in path_targets(s.submission.target):  # refuses a CPU name LLVM does not know
        target = resolve_target(cpu)
        log(f"# target {s.submission.target!r}: code path {name} compiles for {target_tag(target)}, "
            f"{class_text(target_class(target))}")
    return 0


def register(sub) -> None:
    add_command(sub, "config", cmd_config,
                "print every setting in force (defaults filled in) and the CPU the target compiles for")
