"""`frvt nist-validate`: NIST's own validation package run on config/, lib/ and doc/version.txt."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from .common import add_command, log, output_option, settings


def cmd_nist_validate(args) -> int:
    from tabulate import tabulate

    from ..validation.nist_package import run_package

    settings(args, describe=False)  # the settings file names the outputs checked
    frvt_dir, out = Path(args.frvt_dir).resolve(), Path(args.output).resolve()
    outcome = run_package(args.outputs.root, frvt_dir, Path(args.shared_data).resolve(), out, log,
                          patch_kill=args.patch_kill_line, keep=args.keep)
    log("")
    log(tabulate([[p.title, p.result, p.warnings or ""] for p in outcome.phases],
                 headers=["NIST's phase (from its output)", "result", "warnings"], tablefmt="github"))
    for name in outcome.archives:
        log(f"NIST's script wrote {name} into its temporary copy: that is NIST's archive of this run (its "
            f"validation/os.txt names NIST's OS, whatever ran it), not the project's submission tarball, which "
            f"`make package` makes after `frvt validate`; it is not copied to dist/ and goes with the copy")
    counts = {t: sum(f"[{t}]" in ln for ln in outcome.tagged) for t in ("SUCCESS", "WARNING", "ERROR")}
    log(f"nist-validate: NIST's run {'passed' if outcome.passed else 'FAILED'} (exit {outcome.exit_code}) in "
        f"{outcome.seconds:.0f} s: {counts['SUCCESS']} [SUCCESS], {counts['WARNING']} [WARNING], "
        f"{counts['ERROR']} [ERROR] line(s); NIST's full output is in {out / 'run.log'}"
        + (f", its logs in {out / 'nist-logs'}" if (out / "nist-logs").is_dir() else ""))
    return 0 if outcome.passed else 1


def register(sub) -> None:
    p = add_command(sub, "nist-validate", cmd_nist_validate,
                    "run NIST's own validation package (a copy of DIR, with this config/, lib/, doc/version.txt "
                    "and stand-in images from ../shared/data) and report its phases")
    p.add_argument("--frvt-dir", default=str(paths.SHARED_NIST),
                   help="NIST's package: a checkout of github.com/usnistgov/frvt (11/, common/); only read "
                        "(default ../shared/nist-frvt)")
    p.add_argument("--shared-data", default=str(paths.SHARED_DATA),
                   help="where the stand-in images come from (meds_openmpf/, frvt_edge/; default ../shared/data)")
    output_option(p, "--output", lambda o: o.nist_validate, "build/nist-validate/", "run.log and NIST's logs go here",
                  written="folder")
    p.add_argument("--patch-kill-line", action="store_true",
                   help="where no PID namespace can be made (not root): disable, in the copy, the first line of "
                        "NIST's run_testdriver.sh, which kills every count_thread process on the machine; "
                        "without this option the command refuses to run there")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy (its path is printed)")
