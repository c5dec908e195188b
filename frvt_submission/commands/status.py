"""`frvt status`: sizes, validation and timing of what is built now, against the project's goals."""

from __future__ import annotations

import time
from pathlib import Path

from .common import add_command, log, make_hint, output_option, settings

# The project's own size goals (NIST's interface sets no limit): lib/ + config/ as NIST unpacks
# them, and the archive a vendor uploads.
GOAL_UNPACKED_MB = 100
GOAL_TARBALL_MB = 40


def over(mb: float, goal: float) -> str:
    """A rounded size can hide an excess (40.05 printed as 40.0): say it."""
    return f", over it by {mb - goal:.2f} MB" if mb > goal else ""


def cmd_status(args) -> int:
    """Sizes, validation and timing of what is built now, against the goals (reads files only)."""
    from ..package import archive_name
    from ..validation.closure import folder_mb
    from ..validation.summary import SUMMARY_FILE, gate, read_summary
    from ..validation.timing import summarise_timing

    s = settings(args)
    lib_dir, config_dir = args.outputs.lib, args.outputs.config
    built = [f for d in (lib_dir, config_dir) if d.is_dir() for f in d.rglob("*") if f.is_file()]
    if built:
        lib_mb, config_mb = folder_mb(lib_dir), folder_mb(config_dir)
        log(f"lib/ + config/: {lib_mb + config_mb:.1f} MB (lib {lib_mb:.1f}, config {config_mb:.1f}; "
            f"goal <= {GOAL_UNPACKED_MB}{over(lib_mb + config_mb, GOAL_UNPACKED_MB)})")
    else:
        log(f"lib/ + config/: not built yet ({make_hint(args, 'submission')})")
    tarball = Path(args.dist) / archive_name(s)
    if tarball.is_file():
        newest = max((f.stat().st_mtime for f in built), default=0.0)
        mb = tarball.stat().st_size / 1e6
        log(f"tarball: {mb:.2f} MB (goal <= {GOAL_TARBALL_MB}{over(mb, GOAL_TARBALL_MB)}): {tarball}"
            + ("; older than lib/ or config/: package again" if newest > tarball.stat().st_mtime else ""))
    else:
        log(f"tarball: none yet ({tarball})")
    out = Path(args.validation_output)
    refusals = gate(out, args.outputs.root)
    data, why = read_summary(out)
    if data is not None:
        t = data.get("timing") or {}
        log(f"validation: {data.get('result')} ({len(data.get('errors', []))} errors, "
            f"{len(data.get('warnings', []))} warnings) at {data.get('finished')}"
            + ("" if not refusals else f"; package would refuse: {'; '.join(refusals)}"))
        if "median_ms" in t:
            log(f"timing (validation, one pinned core): median {t['median_ms']:.1f} ms per template, "
                f"match {t.get('match_us', float('nan')):.2f} us"
                + (f", initialize {t['init_ms']:.0f} ms, RSS after it {t['init_rss_mb']:.0f} MB"
                   if "init_ms" in t else ""))
    elif (out / SUMMARY_FILE).is_file():
        log(f"validation: {why}")
    else:
        log(f"validation: not run ({out / SUMMARY_FILE} missing)")
    timing_log = Path(args.timing_output) / "timing.log"
    if timing_log.is_file():
        t = summarise_timing(timing_log.parent, s.submission.budget_template_ms, s.submission.budget_match_ms)
        if "median_ms" in t:
            when = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(timing_log.stat().st_mtime))
            log(f"timing (make timing, at {when}): median {t['median_ms']:.1f} ms per template, "
                f"match {t['match_us']:.2f} us")
        else:
            log(f"timing (make timing): no template timed in {timing_log}")
    else:
        log(f"timing (make timing): not run ({timing_log} missing)")
    return 0


def register(sub) -> None:
    p = add_command(sub, "status", cmd_status, "sizes of lib/ + config/ and the tarball against the project's "
                    f"goals (<= {GOAL_UNPACKED_MB} and <= {GOAL_TARBALL_MB} MB), the last validation, "
                    "and the last validation's and `make timing`'s timing")
    output_option(p, "--validation-output", lambda o: o.validation_output, "validation/output/",
                  "the validation run to report")
    output_option(p, "--dist", lambda o: o.dist, "dist/", "where package wrote the tarball")
    output_option(p, "--timing-output", lambda o: o.timing, "build/timing/", "`make timing`'s logs")
