"""`frvt measurements` (`make docs`): docs/measurements.md made again from the measuring commands' files."""

from __future__ import annotations

from pathlib import Path

from .. import measurements as m
from .common import add_command, log, output_option, settings


def cmd_measurements(args) -> int:
    settings(args, describe=False)  # the settings file names the outputs read and written
    for dest, name in (("parity", m.PARITY_JSON), ("eval", m.EVAL_JSON), ("timing", m.TIMING_JSON)):
        if Path(getattr(args, dest)).is_dir():  # the folder the command writes its file to
            setattr(args, dest, str(Path(getattr(args, dest)) / name))
    text = m.make_document(Path(args.parity), Path(args.eval), Path(args.validation), Path(args.timing),
                           Path(args.bench_dir), log, pairs=args.outputs.is_default and not args.no_pairs)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    log(f"wrote {out}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "measurements", cmd_measurements,
                    "write docs/measurements.md from the stamped files parity, eval, validate, time and bench "
                    "leave (a missing one gives the command that makes it)")
    output_option(p, "--output", lambda o: o.docs / m.DOC, f"docs/{m.DOC}", "the document", written="file")
    output_option(p, "--parity", lambda o: o.measurements / m.PARITY_JSON, f"build/measurements/{m.PARITY_JSON}",
                  "frvt parity's file")
    output_option(p, "--eval", lambda o: o.measurements / m.EVAL_JSON, f"build/measurements/{m.EVAL_JSON}",
                  "frvt eval's file")
    output_option(p, "--validation", lambda o: o.validation_output, "validation/output/",
                  "the validation output folder (its summary.json)")
    output_option(p, "--timing", lambda o: o.timing / m.TIMING_JSON, f"build/timing/{m.TIMING_JSON}",
                  "frvt time's timing.json")
    p.add_argument("--no-pairs", action="store_true", help="leave out the accuracy of every model pair (the "
                   "project's document has it: frvt.toml's and each profiles/*.toml's eval files, `make accuracy`)")
    output_option(p, "--bench-dir", lambda o: o.measurements, "build/measurements/",
                  "where frvt bench's bench-<class>.json are")
