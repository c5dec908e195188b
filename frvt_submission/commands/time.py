"""`frvt time`: NIST-style timing of the built library on one pinned core, per size class and stage."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.errors import FrvtError

from .common import add_command, core, count, log, make_hint, output_option, settings, whole


def cmd_time(args) -> int:
    from tabulate import tabulate

    from frvt_runtime.config_dir import MANIFEST_FILE
    from ..measurements import TIMING_JSON, write_measurement
    from ..validation.run import build_driver, run_timing
    from ..validation.stand_in import build_facts, run_root
    from ..validation.timing import STAGE_HEADERS, TIMING_HEADERS, init_line, timing_inputs

    s = settings(args)
    out = Path(args.output)
    built = args.outputs
    lib = built.lib / s.submission.library_name
    if not lib.is_file() or not (built.config / MANIFEST_FILE).is_file():
        raise FrvtError(f"{lib} or {built.config / MANIFEST_FILE} is missing: run `{make_hint(args, 'build')}` first")
    root, stand_in = run_root(built.root, Path(args.settings), log)
    if not stand_in:
        from frvt_runtime.config_dir import running_path

        log(f"  timed: code path {running_path(root / 'config')}, the one the library runs on this CPU, of:")
        for line in build_facts(root / "config"):
            log(f"    {line}")
    driver = build_driver(root / "lib" / s.submission.library_name, built.driver, log)
    lst = timing_inputs(out / "input", args.images, args.large, log)
    n = len(lst.read_text().splitlines())
    log(f"timing {n} images x {args.repeats} call(s), one process pinned to core {args.core} ...")
    r = run_timing(driver, root, out, lst, s, args.repeats, args.core, log)
    if "table" not in r:
        for e in r.get("errors", []):
            log(f"ERROR: {e}")
        return 1
    log(tabulate(r["table"], headers=TIMING_HEADERS, tablefmt="github"))
    if r["stages"]:
        log(tabulate(r["stages"], headers=STAGE_HEADERS, tablefmt="github"))
    log(f"matchTemplates: {r['match_us']:.3f} us per call; threads {r['threads']}; "
        f"peak RSS {r['peak_rss_mb']:.0f} MB")
    log(init_line(r))
    log(f"budget: median {r['median_ms']:.1f} ms vs {s.submission.budget_template_ms} ms, match "
        f"{r['match_us']:.3f} us vs {s.submission.budget_match_ms * 1000:.0f} us -> "
        f"{'PASS' if not r['errors'] else 'FAIL'}"
        + (" (a stand-in build for this host, not the submitted config/: see above)" if stand_in else ""))
    for e in r["errors"]:
        log(f"ERROR: {e}")
    sub = s.submission
    f = write_measurement(out / TIMING_JSON, {
        **r, "images": n, "large": args.large, "repeats": args.repeats, "core": args.core,
        "stand_in": stand_in, "budget": {"template_ms": sub.budget_template_ms, "match_ms": sub.budget_match_ms}},
        root / "config")
    log(f"wrote {f}")
    return 1 if r["errors"] else 0


def register(sub) -> None:
    p = add_command(sub, "time", cmd_time,
                    "NIST-style timing of the built library: one pinned core, per size class and stage")
    output_option(p, "--output", lambda o: o.timing, "build/timing/",
                  "logs folder; timing.json there holds the tables and figures with their stamp", written="folder")
    p.add_argument("--images", type=count, default=30, help="real images (registry + ../shared when present)")
    p.add_argument("--large", type=whole, default=4, help="of which upscaled to 3000x4500 (NIST sends such sizes; "
                                                          "default 4)")
    p.add_argument("--repeats", type=count, default=3, help="calls per image")
    p.add_argument("--core", type=core, default=0, help="the CPU core the process is pinned to (default 0)")
