"""`frvt validate`: the NIST-style run of lib/ + config/ + doc/, its log checks and the timing check."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.errors import FrvtError

from .common import add_command, core, count, log, output_option, settings


def cmd_validate(args) -> int:
    from tabulate import tabulate

    from ..validation.run import validate
    from ..validation.summary import PHASE_HEADERS, SUMMARY_FILE
    from ..validation.timing import STAGE_HEADERS, TIMING_HEADERS, init_line

    if any(not p.strip() for p in args.images):  # ("" was ".": every image under the working folder)
        raise FrvtError("--images names an empty folder name")
    s = settings(args)
    out = Path(args.output)
    rows, errors, warnings, timing = validate(s, args.outputs.root, out, [Path(p) for p in args.images], log,
                                              args.timing_images, args.timing_repeats, Path(args.settings),
                                              args.core)
    if rows:
        log(tabulate(rows, headers=PHASE_HEADERS, tablefmt="github"))
    if timing.get("table"):
        log(f"\nsingle-core timing (taskset -c {args.core}), budget {s.submission.budget_template_ms} ms per template:")
        log(tabulate(timing["table"], headers=TIMING_HEADERS, tablefmt="github"))
        if timing.get("stages"):
            log(tabulate(timing["stages"], headers=STAGE_HEADERS, tablefmt="github"))
        log(f"match: {timing['match_us']:.2f} us per call (budget {s.submission.budget_match_ms * 1000:.0f} us); "
            f"threads {timing['threads']}; peak RSS {timing['peak_rss_mb']:.0f} MB")
        log(init_line(timing))
    for w in warnings:
        log(f"WARNING: {w}")
    for e in errors:
        log(f"ERROR: {e}")
    log(f"validation: {len(errors)} error(s), {len(warnings)} warning(s); logs in {out}, result and the "
        f"SHA-256 of every lib/ and config/ file in {out / SUMMARY_FILE} (package checks it)")
    return 1 if errors else 0


def register(sub) -> None:
    p = add_command(sub, "validate", cmd_validate,
                    "NIST-style validation run of lib/ + config/ + doc/, log checks, timing")
    output_option(p, "--output", lambda o: o.validation_output, "validation/output/", "logs and templates folder",
                  written="folder")
    p.add_argument("--images", nargs="*", default=[],
                   help="extra image folders, one sub-folder per person (a file at a folder's top level is "
                        "its own subject); registry images and ../shared's MEDS are always used")
    p.add_argument("--timing-images", type=count, default=40, help="images in the timing check")
    p.add_argument("--timing-repeats", type=count, default=1, help="calls per image in the timing check")
    p.add_argument("--core", type=core, default=0, help="the CPU core the timing check is pinned to (default 0)")
