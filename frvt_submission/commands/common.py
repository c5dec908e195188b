"""What the commands share: output, progress, the settings file and its build, argparse's number types."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from frvt_runtime.errors import ConfigError, FrvtError


def log(msg: str) -> None:
    print(msg, flush=True)


def progress(verb: str, noun: str):
    """A progress callback: a live counter on a terminal, a line per quarter in a log."""
    tty = sys.stdout.isatty()

    def report(i: int, n: int) -> None:
        if tty:
            print(f"\r  {verb} {i}/{n} {noun}", end="\n" if i == n else "", flush=True)
        elif i == n or i % max(1, n // 4) == 0:
            print(f"  {verb} {i}/{n} {noun}", flush=True)

    return report


def settings(args, describe: bool = True):
    """The settings of the file args.settings names (cli.main resolved it), that file named first:
    a user with several frvt.toml files sees which one a command used, even when it is refused."""
    from ..config import describe as summary, load_settings, outputs_line, settings_line

    log(settings_line(args.settings))
    if not args.outputs.is_default:
        log(outputs_line(args.outputs))
    s = load_settings(Path(args.settings))
    if describe:
        log(summary(s))
    return s


def output_option(p: argparse.ArgumentParser, flag: str, where, shown: str, help_: str,
                  written: str = "") -> None:
    """An option whose default is one of the settings file's outputs: where(paths.Outputs) -> Path,
    filled in by with_outputs once --settings is known (shown: how --help names it). written:
    "file" or "folder", what the command writes there, checked by with_outputs before any work
    (writable)."""
    dest = flag.lstrip("-").replace("-", "_")
    p.add_argument(flag, default=None, help=f"{help_} (default: {shown} of the settings file's outputs)")
    p.set_defaults(output_defaults={**(p.get_default("output_defaults") or {}), dest: where})
    if written:
        p.set_defaults(written=[*(p.get_default("written") or []), (flag, dest, written)])


def writable(flag: str, path: Path, kind: str) -> None:
    """ConfigError unless path can be written as kind ("file" or "folder"): a folder where a file
    goes, a file where a folder goes, or a parent that is a file or not writable, found before the
    minutes of work whose result would go there, not after."""
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise ConfigError(f"{flag} {path} is a folder: give the file's path")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file: give a folder")
    folder = path if kind == "folder" and path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{flag} {path} cannot be written: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path} cannot be written: {folder} is not writable")


def with_outputs(args) -> None:
    """args.outputs: the outputs of args.settings, and each output_option not given set to its
    place there."""
    from .. import paths

    try:
        args.outputs = paths.outputs_for(args.settings)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for dest, where in (getattr(args, "output_defaults", None) or {}).items():
        setattr(args, f"{dest}_default", getattr(args, dest) is None)  # (a command may refine its default)
        if getattr(args, dest) is None:
            setattr(args, dest, str(where(args.outputs)))
    for flag, dest, kind in getattr(args, "written", None) or []:
        writable(flag, Path(getattr(args, dest)), kind)


def class_text(isa_class: str | None) -> str:
    """An ISA class for people: "avx2 class", or what a CPU without one lacks."""
    return f"{isa_class} class" if isa_class else "no ISA class (no AVX2 + FMA)"


def add_command(sub, name: str, fn, help_: str) -> argparse.ArgumentParser:
    """A subcommand's parser, with fn as its handler."""
    # help is %-formatted by argparse (the command list), description is not: "95%" must be escaped in one only.
    p = sub.add_parser(name, help=help_.replace("%", "%%"), description=help_)
    p.set_defaults(fn=fn)
    # Also after the command (`frvt config --settings FILE` was an unrecognized argument). SUPPRESS:
    # when not given here, the value given before the command stays.
    p.add_argument("--settings", default=argparse.SUPPRESS, help="the settings file (the same as `frvt "
                   "--settings FILE " + name + " ...`)")
    return p


def _at_least(text: str, low: int) -> int:
    """text as a whole number of at least low, else an argparse usage error."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {n}")
    return n


def count(text: str) -> int:
    """An argparse type: a whole number of at least 1 (images, runs, trials...); 0 or less is a
    usage error, not a traceback from an empty median later."""
    return _at_least(text, 1)


def whole(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    return _at_least(text, 0)


def minutes(text: str) -> float:
    """An argparse type: a time in minutes, more than 0 (-1 ran a whole first round before the cap
    applied, and nan never applied it)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 minutes, got {text}")
    return value


def core(text: str) -> int:
    """An argparse type: a CPU core of this machine (taskset would fail later). Not only this
    process's affinity: `taskset -c 1 make submission` may still time on core 0, as taskset can."""
    cores = os.cpu_count() or 1
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a core number: {text!r}") from None
    if not 0 <= n < cores:
        raise argparse.ArgumentTypeError(f"core {n} does not exist: this machine has cores 0-{cores - 1}")
    return n


def make_hint(args, target: str) -> str:
    """The make command that builds target for args' settings file: `make build`, with
    SETTINGS=FILE for any file but the project's frvt.toml (else the hint would build the default)."""
    return f"make {target}" + ("" if args.outputs.is_default else f" SETTINGS={args.settings}")


def _short(value, width: int = 32) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def built_from_differences(s, config_dir: Path) -> list[str]:
    """How config_dir's build differs from what settings s would compile: its pipeline.json against
    s's runtime settings (sizes, decoder, thresholds, alignment...), and int8 convs where s asks for
    them or not. Empty when they agree, or when config_dir has no pipeline.json (its loader says so)."""
    import json

    from frvt_runtime.config_dir import PIPELINE_FILE, model_entries, read_manifest
    from ..config import runtime_dict

    try:
        have = json.loads((Path(config_dir) / PIPELINE_FILE).read_text())
        manifest = read_manifest(Path(config_dir))
    except (OSError, ValueError, FrvtError):
        return []
    want = json.loads(json.dumps(runtime_dict(s)))
    found = []
    for section in ("detector", "recognizer", "pipeline"):
        mine, theirs = want.get(section) or {}, have.get(section) or {}
        for key in sorted(set(mine) | set(theirs)):
            if key != "code_path" and mine.get(key) != theirs.get(key):  # (a forced path is a copy's choice)
                found.append(f"[{section}] {key} = {_short(mine.get(key))} in the settings, "
                             f"{_short(theirs.get(key))} there")
    for name, entry in model_entries(manifest).items():  # (the first path: each is compiled from the same models)
        spec = s.recognizer if name == "recognizer" else s.detector
        if bool(entry.get("int8_convs")) != spec.int8:
            found.append(f"[{spec.name}] int8 = {str(spec.int8).lower()} in the settings, "
                         f"{entry.get('int8_convs') or 0} int8 convs in its {name} there")
    return found


def require_built_from(args, s, config_dir: Path) -> None:
    """FrvtError unless config_dir was compiled from args' settings file (s): a command comparing
    the two would otherwise fail inside TVM on a shape, or report a false FAIL."""
    found = built_from_differences(s, config_dir)
    if found:
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        fix = (f"compile it again ({make_hint(args, 'compile')})" if Path(config_dir).resolve() ==
               args.outputs.config.resolve() else "give the settings file it was built from (--settings FILE)")
        raise FrvtError(f"{config_dir} was not compiled from {args.settings}: {'; '.join(found[:3])}{more}. "
                        f"To compare them, {fix}")
