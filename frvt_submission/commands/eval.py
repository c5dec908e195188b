"""`frvt eval`: accuracy on pairs files (listed pairs, every pair of their images, LFW's View 2)."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.errors import FrvtError
from ..measurements import EVAL_JSON, eval_json_name
from .backend import pipeline, with_backend
from .common import add_command, count, log, make_hint, output_option, progress, settings

LIBRARY_CHECK_HEADERS = ["set", "pairs", "decisions differ", "max |cos diff|", "FTE differ", "result"]


def cmd_eval(args) -> int:
    from tabulate import tabulate

    from ..evaluate import (ALL_PAIRS_HEADERS, LFW_HEADERS, SUMMARY_HEADERS, all_pairs_row, evaluate,
                            evaluate_all_pairs, evaluate_lfw, limited_fold, read_lfw_pairs, read_pairs,
                            summary_row, unreadable_images, unreadable_line)
    from ..measurements import write_measurement
    from ..report import set_names

    if (args.workers or args.scheduler) and args.backend != "tvm":
        raise FrvtError("--workers/--scheduler shard the tvm backend (config/), not " + args.backend)
    if args.no_cache and not (args.workers or args.scheduler):
        raise FrvtError("--no-cache is for --workers/--scheduler runs (the only ones that use the cache)")
    # lib/'s file name is the settings file's; config/ holds every other setting the library runs with.
    s = settings(args, describe=False) if args.backend == "library" else None
    p = pipeline(args, s)  # tvm in this process; for --backend library, the Python path it is checked against
    python = None
    if args.backend == "library":
        from ..library_eval import LibraryEmbedder

        python, p = p, LibraryEmbedder(p.settings, s.submission.library_name, args.outputs, log=log,
                                       build_hint=make_hint(args, "build"))
    elif args.workers or args.scheduler:
        from ..scale import DaskEmbedder

        p = DaskEmbedder(Path(args.config_dir), args.workers or 2, args.scheduler, not args.no_cache, log)
    checks, failed, unreadable = [], False, {}
    rows, all_rows, lfw_rows = [], [], []
    # Every file is read (and refused, if it must be) before any image is embedded.
    sets, files = [], [Path(f) for f in args.pairs]
    for name, pairs_path in zip(set_names(files), files):
        if pairs_path.suffix == ".txt":  # LFW View 2
            folds = read_lfw_pairs(pairs_path, Path(args.lfw_images) if args.lfw_images else None)
            sets.append((name, [limited_fold(f, args.limit) for f in folds] if args.limit else folds, True))
        else:
            pairs = read_pairs(pairs_path)
            sets.append((name, pairs[: args.limit] if args.limit else pairs, False))
    for name, pairs, lfw in sets:
        if lfw:
            folds = pairs
            log(f"{name}: LFW protocol, {len(folds)} folds of {len(folds[0])} pairs")
            r = evaluate_lfw(p, folds, progress=progress("embedded", "images"))
            lfw_rows.append([name, len(folds), r["pairs"], f"{r['fte']}/{r['images']}",
                             f"{100 * r['mean']:.2f}% ± {100 * r['sd']:.2f}", f"{100 * r['se']:.2f}"])
            continue
        labels = {int(pair.same) for pair in pairs}
        log(f"{name}: {len(pairs)} pairs" + (f" (with --limit {args.limit}: all labelled {labels.pop()})"
                                              if args.limit and len(labels) == 1 else ""))
        r = evaluate(p, pairs, p.settings.recognizer.same_threshold, progress=progress("embedded", "images"))
        if why := unreadable_images(r["embeddings"]):
            log(unreadable_line(name, why, r["images"]))
            unreadable[name] = why
        rows.append(summary_row(name, r))
        all_rows.append(all_pairs_row(name, evaluate_all_pairs(p, pairs, emb=r["embeddings"])))
        if getattr(p, "last", None):
            x = p.last
            log(f"{name}: {x['images']} images, {x['cached']} from the cache, {x['embedded']} embedded on "
                f"{x['workers']} in {x['seconds']:.1f} s")
        if python is not None:
            from ..evaluate import embed_images
            from ..library_eval import compare_backends

            c = compare_backends(r["embeddings"], embed_images(python, sorted(r["embeddings"])), pairs,
                                 python.settings.recognizer.same_threshold)
            bad = c["disagree"] > 0 or c["max_diff"] > 1e-6 or c["fte_diff"]
            failed |= bool(bad)
            checks.append([name, c["pairs"], c["disagree"], f"{c['max_diff']:.2e}", len(c["fte_diff"]),
                           "DIFFERENT" if bad else "same"])
    if rows:
        log("pairs as listed:")
        log(tabulate(rows, headers=SUMMARY_HEADERS, tablefmt="github"))
        log("\nevery pair of the listed images (identities from id1/id2 or folders); FNMR with its 95% "
            "Wilson interval, n/a where the impostors are fewer than 1/FMR:")
        log(tabulate(all_rows, headers=ALL_PAIRS_HEADERS, tablefmt="github"))
    if lfw_rows:
        log("LFW View 2 (each fold scored at the best threshold of the other folds):")
        log(tabulate(lfw_rows, headers=LFW_HEADERS, tablefmt="github"))
    if checks:
        log("\nthe library's templates vs the Python path (tvm, this process), per listed pair:")
        log(tabulate(checks, headers=LIBRARY_CHECK_HEADERS, tablefmt="github"))
    tables = {key: {"headers": headers, "rows": table} for key, headers, table in (
        ("listed", SUMMARY_HEADERS, rows), ("all_pairs", ALL_PAIRS_HEADERS, all_rows), ("lfw", LFW_HEADERS, lfw_rows),
        ("library_check", LIBRARY_CHECK_HEADERS, checks)) if table}
    json_file = Path(args.json)
    if args.json_default and args.backend != "tvm":  # (the default names the tvm backend's file)
        json_file = json_file.with_name(eval_json_name(args.backend))
    out = write_measurement(json_file, {
        "backend": args.backend, "threshold": p.settings.recognizer.same_threshold, "limit": args.limit,
        "sets": {name: str(path) for name, path in zip(set_names(files), files)}, "unreadable": unreadable,
        **tables},
        None if args.backend == "onnxruntime" else Path(args.config_dir))
    log(f"wrote {out}")
    return 1 if failed else 0


def register(sub) -> None:
    p = with_backend(add_command(sub, "eval", cmd_eval, "accuracy: pairs CSVs (img1,img2,label[,id1,id2]) as "
                                 "listed and over every pair of their images (FNMR at FMR 1e-2..1e-6 with 95% "
                                 "intervals); LFW pairs.txt by the 10-fold View-2 protocol"),
                     library=True)
    p.add_argument("pairs", nargs="+", help="pairs.csv files (e.g. ../shared/data/meds_openmpf/pairs.csv) or "
                                            "LFW-style pairs.txt files")
    p.add_argument("--workers", type=count, default=0, help="embed on N local Dask worker processes (one "
                                                           "thread each), with the embedding cache")
    p.add_argument("--scheduler", default="", help="embed on the Dask cluster at tcp://HOST:PORT instead")
    p.add_argument("--no-cache", action="store_true", help="with --workers/--scheduler: ignore and do not "
                                                           "fill build/embed-cache")
    p.add_argument("--lfw-images", default="", help="LFW image root (<name>/<name>_0001.jpg); default: the "
                                                    "lfw/ folder beside pairs.txt, else pairs.txt's folder")
    output_option(p, "--json", lambda o: o.measurements / EVAL_JSON, f"build/measurements/{EVAL_JSON}; "
                  f"{eval_json_name('onnxruntime')} for --backend onnxruntime, so the reference never "
                  f"overwrites the build's figures",
                  "where the tables go, with their stamp, for `frvt measurements`", written="file")
    p.add_argument("--limit", type=count, default=0, help="use only the first N pairs of each file (of each "
                                                          "fold for an LFW pairs.txt: its first genuine and "
                                                          "impostor pairs, half and half)")
