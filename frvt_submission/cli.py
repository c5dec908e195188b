"""The one entry point: `python -m frvt_submission <command>`; the parser and the dispatch only."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from frvt_runtime.errors import FrvtError
from .commands.common import with_outputs
from .config import settings_path

DESCRIPTION = """\
Take an ONNX face model to a NIST FRVT (FRTE) 1:1 submission.

Typical order: fetch -> compile -> (tune) -> build -> validate -> time -> package.
`make submission` runs them all. Settings live in frvt.toml (see `config`)."""

# The subcommands in the order `frvt --help` lists them; each is frvt_submission/commands/<name>.py
# (a hyphen in the command is an underscore in the module), whose register() adds its parser.
COMMANDS = ("config", "scale", "stamps", "status", "fetch", "calibrate", "compile", "build", "tune", "validate",
            "nist-validate", "time", "bench", "package", "parity", "embed", "compare", "eval", "report",
            "measurements")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="frvt", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", default=None,
                    help="settings file (default: ./frvt.toml if there is one, else the project's frvt.toml)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="command")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.commands.{name.replace('-', '_')}").register(sub)
    ap.set_defaults(command_parsers=sub.choices)
    return ap


def _quiet_closed_pipe() -> int:
    """A reader that closed early (`frvt config | head -1`) ends the run without a traceback. As
    Python's docs advise (signal, "Note on SIGPIPE"): stdout goes to devnull, so that the flush at
    exit cannot raise again; 141 = 128 + SIGPIPE, the status of a writer the signal ended."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


def main(argv: list[str] | None = None) -> int:
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:  # said by the command's parser, with its usage (the top one's named no command)
            args.command_parsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
        if args.settings is not None and not args.settings.strip():  # (an unset shell variable, say)
            raise FrvtError("--settings names no file (an empty name); leave it out for ./frvt.toml or the project's")
        args.settings = str(settings_path(args.settings))  # absolute: child processes get the same file
        with_outputs(args)
        code = args.fn(args)
        sys.stdout.flush()  # a closed pipe is found here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        return _quiet_closed_pipe()
    except FrvtError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
