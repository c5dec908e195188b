"""`frvt measurements` (`make docs`): docs/measurements.md made again from the measuring commands' files."""

from __future__ import annotations

from pathlib import Path

from .. import measurements as m
from .common import add_command, log


def cmd_measurements(args) -> int:
    text = m.make_document(Path(args.parity), Path(args.eval), Path(args.validation), Path(args.timing),
                           Path(args.bench_dir), log)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    log(f"wrote {out}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "measurements", cmd_measurements,
                    "write docs/measurements.md from the stamped files parity, eval, validate, time and bench "
                    "leave (a missing one gives the command that makes it)")
    p.add_argument("--output", default=str(m.DOC), help="the document (default: docs/measurements.md)")
    p.add_argument("--parity", default=str(m.PARITY_JSON), help="frvt parity's file")
    p.add_argument("--eval", default=str(m.EVAL_JSON), help="frvt eval's file")
    p.add_argument("--validation", default=str(m.VALIDATION_OUTPUT), help="the validation output folder "
                                                                         "(its summary.json)")
    p.add_argument("--timing", default=str(m.TIMING_OUTPUT / m.TIMING_JSON), help="frvt time's timing.json")
    p.add_argument("--bench-dir", default=str(m.MEASUREMENTS), help="where frvt bench's bench-<class>.json are")
