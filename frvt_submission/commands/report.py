"""`frvt report`: one self-contained HTML page for a reviewer (accuracy, curves, validation, timing)."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.errors import FrvtError
from .backend import pipeline, with_backend
from .common import add_command, log, make_hint, output_option, settings


def cmd_report(args) -> int:
    from ..report import default_pair_files, write_report

    s = settings(args)
    pair_files = [Path(p) for p in args.pairs] or default_pair_files()
    not_csv = [str(f) for f in pair_files if f.suffix != ".csv"]
    if not_csv:  # (eval runs LFW's pairs.txt protocol; the report's tables and curves are per pairs.csv)
        raise FrvtError(f"report takes pairs.csv files; for {', '.join(not_csv)} use `frvt eval`")
    if args.backend != "onnxruntime" and Path(args.config_dir).resolve() != args.outputs.config.resolve():
        # (its accuracy would be that build's, its sizes and build facts the settings file's own)
        raise FrvtError(f"--config-dir {args.config_dir}: a report describes one build, the settings file's "
                        f"({args.outputs.config}, with its lib/, doc/ and tarball); for another build's report, "
                        f"give its settings file (--settings FILE)")
    faces = pipeline(args, s)
    if args.backend == "library":
        from ..library_eval import LibraryEmbedder

        faces = LibraryEmbedder(faces.settings, s.submission.library_name, args.outputs, log=log,
                                build_hint=make_hint(args, "build"))
    out = write_report(s, faces, pair_files, Path(args.output), Path(args.validation_output),
                       [Path(args.timing_output), Path(args.validation_output)], args.outputs, log, args.backend)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, self-contained)")
    return 0


def register(sub) -> None:
    p = with_backend(add_command(sub, "report", cmd_report, "one self-contained HTML page: accuracy tables with "
                                 "DET/ROC curves and histograms, validation, timing per stage, sizes, build facts"),
                     library=True)
    p.add_argument("pairs", nargs="*", help="pairs.csv files (default: the registry images and every "
                                            "../shared/data set)")
    output_option(p, "--output", lambda o: o.report, "build/report.html", "the HTML file", written="file")
    output_option(p, "--validation-output", lambda o: o.validation_output, "validation/output/",
                  "the validation run to report")
    output_option(p, "--timing-output", lambda o: o.timing, "build/timing/",
                  "`make timing`'s logs (else the validation's timing is shown)")
