"""The one entry point: `python -m frvt_submission <command>`; subcommands parse and call."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import paths
from .compile.graph_passes import GRAPH_PASSES
from .compile.isa_class import CLASSES
from .benchmark import E2E_ROUNDS
from .compile.tune import POPULATION
from frvt_runtime.errors import FrvtError

DESCRIPTION = """\
Take an ONNX face model to a NIST FRVT (FRTE) 1:1 submission.

Typical order: fetch -> compile -> (tune) -> build -> validate -> time -> package.
`make submission` runs them all. Settings live in frvt.toml (see `config`)."""


def _log(msg: str) -> None:
    print(msg, flush=True)


def _progress(verb: str, noun: str):
    """A progress callback: a live counter on a terminal, a line per quarter in a log."""
    tty = sys.stdout.isatty()

    def report(i: int, n: int) -> None:
        if tty:
            print(f"\r  {verb} {i}/{n} {noun}", end="\n" if i == n else "", flush=True)
        elif i == n or i % max(1, n // 4) == 0:
            print(f"  {verb} {i}/{n} {noun}", flush=True)

    return report


def _settings(args):
    from frvt_runtime.config import describe, load_settings

    s = load_settings(Path(args.settings))
    if getattr(args, "verbose_config", True):
        _log(describe(s))
    return s


def cmd_config(args) -> int:
    """Every setting in force, defaults filled in, and the CPU the target compiles for here."""
    import dataclasses
    import json

    from frvt_runtime.config import load_settings
    from .compile.isa_class import target_class
    from .compile.tvm_build import resolve_target, target_tag

    s = load_settings(Path(args.settings))
    _log(f"# {Path(args.settings).resolve()}, resolved")
    for section in dataclasses.fields(s):
        _log(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(s, section.name)).items():
            if key != "name":  # a model section's own name, not a setting
                _log(f"{key} = {json.dumps(value)}")
    target = resolve_target(s.submission.target)  # refuses a CPU name LLVM does not know
    _log(f"# target {s.submission.target!r}: compiles for {target_tag(target)}, {class_text(target_class(target))}")
    return 0


def class_text(isa_class: str | None) -> str:
    """An ISA class for people: "avx2 class", or what a CPU without one lacks."""
    return f"{isa_class} class" if isa_class else "no ISA class (no AVX2 + FMA)"


def cmd_fetch(args) -> int:
    from .models.prepare import cleaned_onnx
    from .testdata import test_images

    s = _settings(args)
    for spec in (s.detector, s.recognizer):
        _log(f"[{spec.name}] ok: {cleaned_onnx(spec, _log)}")
    _log(f"test images: {test_images()}")
    return 0


def cmd_compile(args) -> int:
    import subprocess

    from .compile.build_models import compile_all
    from .docs import tuning_summary
    from .compile.write_config import write_config_dir
    from frvt_runtime.config_dir import KERNELS

    s = _settings(args)
    compiled = compile_all(s, args.cpu, _log, use_records=not args.no_records)
    out = Path(args.config_dir)
    write_config_dir(s, compiled, out)
    for name, info in compiled.items():
        if name == KERNELS:
            continue
        _log(f"[{name}] built for {info['cpu']} ({class_text(info['isa_class'])}): {tuning_summary(info)}")
    _log(f"wrote {out}")
    if args.no_parity:
        return 0
    from .validation.stand_in import lacked, unrunnable

    lacking = unrunnable(out)
    if lacking:  # loading it here would die of an illegal instruction
        _log(f"warning: parity not checked: this CPU lacks {', '.join(lacked(lacking))}, "
             f"which {', '.join(sorted(lacking))} use; `validate` and `time` run a stand-in built for this host")
        return 0
    # A fresh process: parity is checked on the runtime-only (deployed) path.
    return subprocess.call([sys.executable, "-m", "frvt_submission", "--settings", args.settings,
                            "parity", "--config-dir", str(out)])


def cmd_parity(args) -> int:
    from .compile.parity import check_parity
    from frvt_runtime.config import load_settings
    from .testdata import test_images

    s = load_settings(Path(args.settings))
    images = sorted(p for p in test_images().iterdir() if p.suffix != ".csv")
    r = check_parity(s, Path(args.config_dir), images)
    if r["min_cosine"] is None:
        _log(f"parity: no face found in {r['images']} images -> FAIL")
        return 1
    sizes = ", ".join(f"{w}x{h}" for w, h in r["sizes"])
    _log(f"parity vs onnxruntime on {r['faces']} faces in {r['images']} images (detector at {sizes}): "
         f"min cosine {r['min_cosine']:.6f}, max box diff {r['max_box_px']:.3f} px, "
         f"max landmark diff {r['max_landmark_px']:.3f} px -> {'OK' if r['ok'] else 'FAIL'}")
    return 0 if r["ok"] else 1


def cmd_build(args) -> int:
    from .bridge.build import build_library
    from .bridge.bundle import bundle_runtime
    from .docs import write_version_file

    s = _settings(args)
    config_dir = Path(args.config_dir)
    if not (config_dir / "models.json").is_file():
        _log(f"error: {config_dir} has no compiled models; run `compile` first")
        return 2
    lib_dir = Path(args.lib_dir)
    lib_dir.mkdir(parents=True, exist_ok=True)
    for old in lib_dir.glob("libfrvt_11_*.so"):
        old.unlink()  # exactly one libfrvt_11_*_???.so may exist
    so = build_library(s, lib_dir, _log)
    bundle_runtime(lib_dir, _log, config_dir)
    version = write_version_file(s, config_dir, paths.SUB_DOC)
    _log(f"built {so}\nwrote {version}")
    return 0


def cmd_validate(args) -> int:
    from tabulate import tabulate

    from .validation.run import validate
    from .validation.summary import SUMMARY_FILE
    from .validation.timing import STAGE_HEADERS, TIMING_HEADERS

    s = _settings(args)
    out = Path(args.output)
    rows, errors, warnings, timing = validate(s, paths.ROOT, out, [Path(p) for p in args.images], _log,
                                              args.timing_images, args.timing_repeats, Path(args.settings),
                                              args.core)
    if rows:
        _log(tabulate(rows, headers=["phase", "forks", "rows", "non-zero codes", "max threads", "seconds",
                                     "result"], tablefmt="github"))
    if timing.get("table"):
        _log(f"\nsingle-core timing (taskset -c {args.core}), budget {s.submission.budget_template_ms} ms per template:")
        _log(tabulate(timing["table"], headers=TIMING_HEADERS, tablefmt="github"))
        if timing.get("stages"):
            _log(tabulate(timing["stages"], headers=STAGE_HEADERS, tablefmt="github"))
        _log(f"match: {timing['match_us']:.2f} us per call (budget {s.submission.budget_match_ms * 1000:.0f} us); "
             f"threads {timing['threads']}; peak RSS {timing['peak_rss_mb']:.0f} MB")
        _log(_init_line(timing))
    for w in warnings:
        _log(f"WARNING: {w}")
    for e in errors:
        _log(f"ERROR: {e}")
    _log(f"validation: {len(errors)} error(s), {len(warnings)} warning(s); logs in {out}, result and the "
         f"SHA-256 of every lib/ and config/ file in {out / SUMMARY_FILE} (package checks it)")
    return 1 if errors else 0


def _init_line(timing: dict) -> str:
    """initialize()'s cost as the timing driver measured it (once, pinned to the timing core)."""
    return (f"initialize(): {timing['init_ms']:.0f} ms (loads the interpreter and both models, runs each "
            f"once); RSS after it {timing['init_rss_mb']:.0f} MB")


def cmd_time(args) -> int:
    from tabulate import tabulate

    from .validation.run import build_driver, run_timing
    from frvt_runtime.config_dir import MANIFEST_FILE
    from .validation.stand_in import build_facts, run_root
    from .validation.timing import STAGE_HEADERS, TIMING_HEADERS, timing_inputs

    s = _settings(args)
    out = Path(args.output)
    lib = paths.SUB_LIB / s.submission.library_name
    if not lib.is_file() or not (paths.SUB_CONFIG / MANIFEST_FILE).is_file():
        _log(f"error: {lib} or {paths.SUB_CONFIG / MANIFEST_FILE} is missing: run `make build` first")
        return 2
    root, stand_in = run_root(paths.ROOT, Path(args.settings), _log)
    if not stand_in:
        for line in build_facts(root / "config"):
            _log(f"  timed build: {line}")
    driver = build_driver(root / "lib" / s.submission.library_name, paths.BUILD / "validate11", _log)
    lst = timing_inputs(out / "input", args.images, args.large, _log)
    n = len(lst.read_text().splitlines())
    _log(f"timing {n} images x {args.repeats} call(s), one process pinned to core {args.core} ...")
    r = run_timing(driver, root, out, lst, s, args.repeats, args.core, _log)
    if "table" not in r:
        for e in r.get("errors", []):
            _log(f"ERROR: {e}")
        return 1
    _log(tabulate(r["table"], headers=TIMING_HEADERS, tablefmt="github"))
    if r["stages"]:
        _log(tabulate(r["stages"], headers=STAGE_HEADERS, tablefmt="github"))
    _log(f"matchTemplates: {r['match_us']:.3f} us per call; threads {r['threads']}; "
         f"peak RSS {r['peak_rss_mb']:.0f} MB")
    _log(_init_line(r))
    _log(f"budget: median {r['median_ms']:.1f} ms vs {s.submission.budget_template_ms} ms, match "
         f"{r['match_us']:.3f} us vs {s.submission.budget_match_ms * 1000:.0f} us -> "
         f"{'PASS' if not r['errors'] else 'FAIL'}"
         + (" (a stand-in build for this host, not the submitted config/: see above)" if stand_in else ""))
    for e in r["errors"]:
        _log(f"ERROR: {e}")
    return 1 if r["errors"] else 0


def cmd_bench(args) -> int:
    import subprocess

    from .benchmark import merge_section, report_markdown, run_benchmark
    from .compile.build_models import compiled_specs
    from .compile.isa_class import class_cpu, class_of_features, host_features
    from frvt_runtime.config_dir import model_entries, read_manifest
    from .imagefile import read_image
    from .models.prepare import cleaned_onnx
    from .testdata import test_images

    s = _settings(args)
    bench = paths.BUILD / "bench"
    cpu = ["--cpu", class_cpu(args.isa)] if args.isa else []
    if not args.no_compile:  # compile in child processes: the compiler and runtime do not share a process
        for variant, extra in (("untuned", ["--no-records"]), ("tuned", [])):
            rc = subprocess.call([sys.executable, "-m", "frvt_submission", "--settings", args.settings, "compile",
                                  "--no-parity", "--config-dir", str(bench / variant), *cpu, *extra])
            if rc != 0:
                return rc
    manifest = read_manifest(bench / "tuned")
    onnx_paths = {spec.name: cleaned_onnx(spec) for spec in compiled_specs(s)}
    folder = test_images()
    images = [read_image(p) for p in sorted(folder.iterdir()) if p.suffix != ".csv"]
    if paths.SHARED_DATA.is_dir():
        meds = sorted((paths.SHARED_DATA / "meds_openmpf").rglob("*.jpg"))[:: 10]
        images += [read_image(p) for p in meds]
    r = run_benchmark(s, onnx_paths, bench, images[: args.images], args.runs, _log, args.rounds)
    first = next(iter(manifest.values()))
    r["build"] = {"cpu": first["cpu"], "isa_class": first.get("isa_class"), "models": model_entries(manifest)}
    r["host_class"] = class_of_features(host_features())
    section = report_markdown(r, "make bench" + (f" BENCH_ISA={args.isa}" if args.isa else ""))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(merge_section(out.read_text() if out.is_file() else "", str(first.get("isa_class")), section))
    _log(section)
    _log(f"wrote the {first.get('isa_class')} section of {out}")
    return 0


def cmd_package(args) -> int:
    from .package import build_tarball

    s = _settings(args)
    outputs = build_tarball(s, paths.ROOT, Path(args.validation_output), Path(args.dist), _log)
    for p in outputs:
        _log(f"wrote {p}")
    return 0


def cmd_tune(args) -> int:
    from .compile.build_models import compiled_specs, records_dir, tuning_folder
    from .compile.isa_class import class_cpu, target_class
    from .compile.tune import tune_model
    from .compile.tvm_build import resolve_target
    from .models.prepare import cleaned_onnx
    from .models.sources import fetch_model

    # Options that would be ignored are refused: a run of hours on the wrong settings is costly.
    if args.cpu and args.isa:
        raise FrvtError("give --isa (a class, tuned for its own CPU) or --cpu (one CPU), not both")
    if args.key and not args.rpc:
        raise FrvtError("--key names the machines of an RPC tracker: it needs --rpc HOST:PORT")
    s = _settings(args)
    specs = {spec.name: spec for spec in compiled_specs(s)}
    unknown = [m for m in args.models or [] if m not in specs]
    if unknown:
        raise FrvtError(f"--models: no model {', '.join(unknown)} in these settings (they have {', '.join(specs)})")
    if args.cpu:
        target = resolve_target(args.cpu)
    else:  # a class is tuned by compiling for its own CPU: the records then fit every CPU of the class
        isa = args.isa or target_class(resolve_target(s.submission.target))
        if isa is None:
            raise FrvtError(f"target {s.submission.target!r} is below AVX2: name a class with --isa or a CPU with --cpu")
        target = resolve_target(class_cpu(isa))
    folder = tuning_folder(target, bool(args.cpu))
    passes = tuple(p for p in GRAPH_PASSES if p not in args.skip_pass)
    _log(f"tune: records for {folder} ({target_class(target)} class), compiled for {target}; "
         f"graph passes {', '.join(passes) or 'none'}")
    runner = None
    if args.rpc:
        from .compile.rpc import rpc_runner

        runner = rpc_runner(args.rpc, args.key or "frvt", _log)
    else:
        from .compile.isa_class import host_can_run

        runs, missing = host_can_run(target)
        if not runs:  # every candidate would die of an illegal instruction
            raise FrvtError(f"this CPU lacks {', '.join(missing)}, which code for {folder} uses: tune on an "
                            f"{target_class(target)} machine, or measure there with --rpc HOST:PORT --key KEY")
    for name in args.models or list(specs):
        spec = specs[name]
        tune_model(cleaned_onnx(spec, _log), spec, target, records_dir(folder, name), args.trials,
                   args.per_task, _log, args.population, args.per_iter, args.minutes, args.new_only,
                   original=fetch_model(spec), runner=runner, passes=passes)
    _log("records kept in tuning/; run `compile` to apply them")
    return 0


def _pipeline(args):
    from frvt_runtime.pipeline import FacePipeline

    if args.backend == "onnxruntime":
        from frvt_runtime.config import load_settings
        from .reference import reference_pipeline

        return reference_pipeline(load_settings(Path(args.settings)))
    from .tvm_wheel import wheel_runtime_dir

    return FacePipeline.from_config_dir(Path(args.config_dir), wheel_runtime_dir())


def cmd_embed(args) -> int:
    """One line per image; exit 1 when any image gave no template (unreadable, or no face)."""
    from .imagefile import read_image
    from frvt_runtime.template import decode

    p = _pipeline(args)
    failed = 0
    for path in args.images:
        try:
            r = p.create_template([read_image(Path(path))])
        except FrvtError as exc:
            _log(f"{path}: {exc}")
            failed += 1
            continue
        t = decode(r.templates[0])
        e = r.eyes[0]
        eyes = f"left=({e.xleft},{e.yleft}) right=({e.xright},{e.yright})" if e.left_assigned else "none"
        _log(f"{path}: {r.code.name} template={len(r.templates[0])} bytes eyes {eyes} "
             f"embedding={'failed' if t.failed else [round(float(x), 4) for x in t.embedding[:4]]}"
             + (f" ({r.info})" if r.info else ""))
        failed += t.failed
    if failed:
        _log(f"{failed} of {len(args.images)} image(s) gave no template")
    return 1 if failed else 0


def cmd_compare(args) -> int:
    """The score of two images, or why there is none (exit 1)."""
    from .imagefile import read_image
    from frvt_runtime.template import decode, match, score_to_cosine

    p = _pipeline(args)
    results, bad = [], []
    for path in (args.image1, args.image2):
        try:
            r = p.create_template([read_image(Path(path))])
        except FrvtError as exc:  # unreadable: no template, as for a face not found
            bad.append(str(exc))
            continue
        results.append(r)
        if decode(r.templates[0]).failed:
            bad.append(f"{path}: {r.code.name} ({r.info})")
    if bad:
        _log("no score: " + "; ".join(bad))
        return 1
    score, status = match(results[0].templates[0], results[1].templates[0])
    if status != "ok":  # (both templates decoded as embeddings: not expected)
        raise FrvtError(f"the two templates cannot be compared ({status})")
    cos = score_to_cosine(score)
    thr = p.settings.recognizer.same_threshold
    _log(f"score {score:.1f}  cosine {cos:.4f}  -> {'same' if cos >= thr else 'different'} "
         f"person at cosine {thr}")
    return 0


def cmd_eval(args) -> int:
    from tabulate import tabulate

    from .evaluate import (ALL_PAIRS_HEADERS, SUMMARY_HEADERS, all_pairs_row, evaluate, evaluate_all_pairs,
                           evaluate_lfw, read_lfw_pairs, read_pairs, summary_row)
    from .report import set_names

    if (args.workers or args.scheduler) and args.backend != "tvm":
        raise FrvtError("--workers/--scheduler shard the tvm backend (config/), not " + args.backend)
    if args.no_cache and not (args.workers or args.scheduler):
        raise FrvtError("--no-cache is for --workers/--scheduler runs (the only ones that use the cache)")
    p = _pipeline(args)  # tvm in this process; for --backend library, the Python path it is checked against
    python = None
    if args.backend == "library":
        from .library_eval import LibraryEmbedder

        python, p = p, LibraryEmbedder(p.settings, log=_log)
    elif args.workers or args.scheduler:
        from .scale import DaskEmbedder

        p = DaskEmbedder(Path(args.config_dir), args.workers or 2, args.scheduler, not args.no_cache, _log)
    checks, failed = [], False
    rows, all_rows, lfw_rows = [], [], []
    # Every file is read (and refused, if it must be) before any image is embedded.
    sets, files = [], [Path(f) for f in args.pairs]
    for name, pairs_path in zip(set_names(files), files):
        if pairs_path.suffix == ".txt":  # LFW View 2
            folds = read_lfw_pairs(pairs_path, Path(args.lfw_images) if args.lfw_images else None)
            sets.append((name, [f[: args.limit] for f in folds] if args.limit else folds, True))
        else:
            pairs = read_pairs(pairs_path)
            sets.append((name, pairs[: args.limit] if args.limit else pairs, False))
    for name, pairs, lfw in sets:
        if lfw:
            folds = pairs
            _log(f"{name}: LFW protocol, {len(folds)} folds of {len(folds[0])} pairs")
            r = evaluate_lfw(p, folds, progress=_progress("embedded", "images"))
            lfw_rows.append([name, len(folds), r["pairs"], f"{r['fte']}/{r['images']}",
                             f"{100 * r['mean']:.2f}% ± {100 * r['sd']:.2f}", f"{100 * r['se']:.2f}"])
            continue
        labels = {int(pair.same) for pair in pairs}
        _log(f"{name}: {len(pairs)} pairs" + (f" (with --limit {args.limit}: all labelled {labels.pop()})"
                                               if args.limit and len(labels) == 1 else ""))
        r = evaluate(p, pairs, p.settings.recognizer.same_threshold, progress=_progress("embedded", "images"))
        rows.append(summary_row(name, r))
        all_rows.append(all_pairs_row(name, evaluate_all_pairs(p, pairs, emb=r["embeddings"])))
        if getattr(p, "last", None):
            x = p.last
            _log(f"{name}: {x['images']} images, {x['cached']} from the cache, {x['embedded']} embedded on "
                 f"{x['workers']} in {x['seconds']:.1f} s")
        if python is not None:
            from .evaluate import embed_images
            from .library_eval import compare_backends

            c = compare_backends(r["embeddings"], embed_images(python, sorted(r["embeddings"])), pairs,
                                 python.settings.recognizer.same_threshold)
            bad = c["disagree"] > 0 or c["max_diff"] > 1e-6 or c["fte_diff"]
            failed |= bool(bad)
            checks.append([name, c["pairs"], c["disagree"], f"{c['max_diff']:.2e}", len(c["fte_diff"]),
                           "DIFFERENT" if bad else "same"])
    if rows:
        _log("pairs as listed:")
        _log(tabulate(rows, headers=SUMMARY_HEADERS, tablefmt="github"))
        _log("\nevery pair of the listed images (identities from id1/id2 or folders); FNMR with its 95% "
             "Wilson interval, n/a where the impostors are fewer than 1/FMR:")
        _log(tabulate(all_rows, headers=ALL_PAIRS_HEADERS, tablefmt="github"))
    if lfw_rows:
        _log("LFW View 2 (each fold scored at the best threshold of the other folds):")
        _log(tabulate(lfw_rows, headers=["set", "folds", "pairs", "FTE/images", "accuracy mean ± sd", "SE %"],
                      tablefmt="github"))
    if checks:
        _log("\nthe library's templates vs the Python path (tvm, this process), per listed pair:")
        _log(tabulate(checks, headers=["set", "pairs", "decisions differ", "max |cos diff|", "FTE differ",
                                       "result"], tablefmt="github"))
    return 1 if failed else 0


def cmd_report(args) -> int:
    from .report import default_pair_files, write_report

    s = _settings(args)
    pair_files = [Path(p) for p in args.pairs] or default_pair_files()
    not_csv = [str(f) for f in pair_files if f.suffix != ".csv"]
    if not_csv:  # (eval runs LFW's pairs.txt protocol; the report's tables and curves are per pairs.csv)
        raise FrvtError(f"report takes pairs.csv files; for {', '.join(not_csv)} use `frvt eval`")
    if Path(args.output).is_dir():  # found before minutes of embedding, not after
        raise FrvtError(f"--output {args.output} is a folder: give the HTML file's path")
    pipeline = _pipeline(args)
    if args.backend == "library":
        from .library_eval import LibraryEmbedder

        pipeline = LibraryEmbedder(pipeline.settings, log=_log)
    out = write_report(s, pipeline, pair_files, Path(args.output), Path(args.validation_output),
                       [Path(args.timing_output), Path(args.validation_output)], _log)
    _log(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, self-contained)")
    return 0


def cmd_scale(args) -> int:
    """One single-threaded worker process vs N of them (or a cluster) on one set of real images,
    measured in one run. Both sides are Dask workers with the same one-thread settings, so the
    baseline is the one process on one core that NIST-style embedding is, start-up included."""
    import os

    import numpy as np
    from tabulate import tabulate

    from .compile.isa_class import host_cpu_name
    from .evaluate import embed_images
    from .scale import DaskEmbedder, scale_set

    images = scale_set(args.images)
    _log(f"{len(images)} images in {images[0].parent}")
    config_dir = Path(args.config_dir)
    runs = {}
    for label, workers, scheduler in (("1 process", 1, ""), (f"{args.workers} processes", args.workers,
                                                            args.scheduler)):
        dask = DaskEmbedder(config_dir, workers, scheduler, cache=False, log=_log)
        runs[label] = (embed_images(dask, images, _progress(label, "images")), dask.last)
    (e1, r1), (e2, r2) = runs.values()
    same = all((e1[p] is None) == (e2[p] is None) and (e1[p] is None or np.array_equal(e1[p], e2[p]))
               for p in images)
    _log(tabulate([[r["workers"], len(images), f"{r['seconds']:.1f}", f"{len(images) / r['seconds']:.1f}",
                    f"{r['seconds'] / r1['seconds']:.2f}"] for r in (r1, r2)],
                  headers=["embedding on", "images", "wall s", "images/s", "time vs 1 process"], tablefmt="github"))
    _log(f"embeddings identical: {'yes' if same else 'NO'}; this machine: {os.cpu_count()} cores, "
         f"{host_cpu_name()}")
    return 0 if same else 1


def cmd_stamps(args) -> int:
    from .stamps import write_stamps

    changed = write_stamps(_settings(args), Path(args.folder))
    if changed:
        _log(f"settings changed for: {', '.join(changed)}")
    return 0


# The project's own size goals (NIST's interface sets no limit): lib/ + config/ as NIST unpacks
# them, and the archive a vendor uploads.
GOAL_UNPACKED_MB = 100
GOAL_TARBALL_MB = 40


def cmd_status(args) -> int:
    """Sizes, validation and timing of what is built now, against the goals (reads files only)."""
    import json

    from .package import archive_name
    from .validation.closure import folder_mb
    from .validation.summary import SUMMARY_FILE, gate
    from .validation.timing import summarise_timing

    s = _settings(args)
    built = [f for d in (paths.SUB_LIB, paths.SUB_CONFIG) if d.is_dir() for f in d.rglob("*") if f.is_file()]
    if built:
        lib_mb, config_mb = folder_mb(paths.SUB_LIB), folder_mb(paths.SUB_CONFIG)
        _log(f"lib/ + config/: {lib_mb + config_mb:.1f} MB (lib {lib_mb:.1f}, config {config_mb:.1f}; "
             f"goal <= {GOAL_UNPACKED_MB})")
    else:
        _log("lib/ + config/: not built yet (make submission)")
    tarball = Path(args.dist) / archive_name(s)
    if tarball.is_file():
        newest = max((f.stat().st_mtime for f in built), default=0.0)
        _log(f"tarball: {tarball.stat().st_size / 1e6:.1f} MB (goal <= {GOAL_TARBALL_MB}): {tarball}"
             + ("; older than lib/ or config/: package again" if newest > tarball.stat().st_mtime else ""))
    else:
        _log(f"tarball: none yet ({tarball})")
    out = Path(args.validation_output)
    refusals = gate(out, paths.ROOT)
    summary = out / SUMMARY_FILE
    if summary.is_file():
        data = json.loads(summary.read_text())
        t = data.get("timing", {})
        _log(f"validation: {data.get('result')} ({len(data.get('errors', []))} errors, "
             f"{len(data.get('warnings', []))} warnings) at {data.get('finished')}"
             + ("" if not refusals else f"; package would refuse: {'; '.join(refusals)}"))
        if "median_ms" in t:
            _log(f"timing (validation, one pinned core): median {t['median_ms']:.1f} ms per template, "
                 f"match {t.get('match_us', float('nan')):.2f} us"
                 + (f", initialize {t['init_ms']:.0f} ms, RSS after it {t['init_rss_mb']:.0f} MB"
                    if "init_ms" in t else ""))
    else:
        _log(f"validation: not run ({summary} missing)")
    timing_log = Path(args.timing_output) / "timing.log"
    if timing_log.is_file():
        t = summarise_timing(timing_log.parent, s.submission.budget_template_ms, s.submission.budget_match_ms)
        if "median_ms" in t:
            when = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(timing_log.stat().st_mtime))
            _log(f"timing (make timing, at {when}): median {t['median_ms']:.1f} ms per template, "
                 f"match {t['match_us']:.2f} us")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="frvt", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", default=str(paths.SETTINGS_FILE), help="settings file (default: frvt.toml)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="command")

    def add(name, fn, help_):
        # help is %-formatted by argparse (the command list), description is not: "95%" must be escaped in one only.
        p = sub.add_parser(name, help=help_.replace("%", "%%"), description=help_)
        p.set_defaults(fn=fn)
        return p

    add("config", cmd_config, "print every setting in force (defaults filled in) and the CPU the target compiles for")
    p = add("scale", cmd_scale, "embedding wall time: one single-threaded process vs N (a Dask LocalCluster, "
                                "or --scheduler) on N real images (registry + ../shared photos and variants)")
    p.add_argument("--images", type=count, default=5000,
                   help="images embedded by each side (default 5000: real photos and variants of them, "
                        "written once to build/scale-set at ~0.9 MB each, ~4.5 GB)")
    p.add_argument("--workers", type=count, default=2, help="local worker processes, one thread each")
    p.add_argument("--scheduler", default="", help="a Dask cluster at tcp://HOST:PORT instead of local workers")
    p.add_argument("--config-dir", default=str(paths.SUB_CONFIG), help="compiled config folder")
    p = add("stamps", cmd_stamps, "(the Makefile's plumbing) write build/settings/<step>.json, the settings each make step reads, "
                                  "rewriting only changed ones (the Makefile's dependencies on frvt.toml)")
    p.add_argument("--folder", default=str(paths.BUILD / "settings"), help="where the stamps go")
    p = add("status", cmd_status, "sizes of lib/ + config/ and the tarball against the project's goals "
                                  f"(<= {GOAL_UNPACKED_MB} and <= {GOAL_TARBALL_MB} MB), the last validation, "
                                  "and the last validation's and `make timing`'s timing")
    p.add_argument("--validation-output", default=str(paths.SUB_VALIDATION / "output"),
                   help="the validation run to report (default: validation/output)")
    p.add_argument("--dist", default=str(paths.ROOT / "dist"), help="where package wrote the tarball")
    p.add_argument("--timing-output", default=str(paths.BUILD / "timing"), help="`make timing`'s logs")
    add("fetch", cmd_fetch, "download the pinned models and test images, check SHA-256, clean the ONNX")
    p = add("compile", cmd_compile, "compile both models with TVM into config/ and check parity with onnxruntime")
    p.add_argument("--cpu", default="", help="LLVM CPU name (default: [submission] target; 'host' = this CPU)")
    p.add_argument("--config-dir", default=str(paths.SUB_CONFIG), help="output folder (default: config/)")
    p.add_argument("--no-parity", action="store_true", help="skip the onnxruntime parity check")
    p.add_argument("--no-records", action="store_true", help="ignore tuning records (an untuned build)")
    p = add("build", cmd_build, "build lib/libfrvt_11_<co>_<seq>.so (C++ + CFFI bridge), bundle its runtime, doc/")
    p.add_argument("--config-dir", default=str(paths.SUB_CONFIG), help="compiled config folder")
    p.add_argument("--lib-dir", default=str(paths.SUB_LIB), help="output folder (default: lib/)")
    p = add("tune", cmd_tune, "MetaSchedule tuning (resumable: records add up in tuning/<class>/<model>/)")
    p.add_argument("--isa", choices=tuple(CLASSES), default=None,
                   help="instruction-set class to tune, compiled for its CPU (avx2: haswell, avx512: "
                        "skylake-avx512, NIST's); default: the class of [submission] target. The machine "
                        "measuring must have that class: an AVX-512 machine can tune avx2, not the reverse")
    p.add_argument("--cpu", default="",
                   help="tune for one LLVM CPU instead of a class (host-specific records in tuning/<cpu>/)")
    p.add_argument("--rpc", default="", metavar="HOST:PORT",
                   help="build candidates here, measure them on the machines registered with this TVM RPC "
                        "tracker (scripts/rpc_tracker.sh, scripts/rpc_server.sh), all in parallel")
    p.add_argument("--skip-pass", nargs="+", default=[], choices=GRAPH_PASSES, metavar="PASS",
                   help="tune without these graph passes (of: " + ", ".join(GRAPH_PASSES) + "); model.json "
                        "records the passes, and compile then builds without them too. E.g. fuse_dw_units, "
                        "to let MetaSchedule schedule YuNet's units on a CPU class the hand-written kernels "
                        "were not measured on")
    p.add_argument("--key", default=None, help="with --rpc: the tracker key of the measuring machines (default: frvt)")
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                   help="which models to tune, one after the other: recognizer, detector (at input_size) and "
                        "the detector at each of its smaller_sizes, e.g. detector_320x320 (default: all of them); "
                        "each has its own records folder")
    p.add_argument("--trials", type=count, default=2000, help="measured candidates to add per model (default 2000)")
    p.add_argument("--per-task", type=count, default=64, help="most trials one fused kernel gets per run (default 64)")
    p.add_argument("--per-iter", type=count, default=16, help="candidates measured per search round (default 16)")
    p.add_argument("--population", type=count, default=POPULATION,
                   help=f"evolutionary search population (larger = deeper search, slower rounds; default "
                        f"{POPULATION})")
    p.add_argument("--minutes", type=float, default=None,
                   help="time cap per model, checked once the first round over all tasks is measured "
                        "(default: none, --trials ends the run)")
    p.add_argument("--new-only", action="store_true",
                   help="tune only kernels without a record yet (after a change to the graph or passes); "
                        "quick, and leaves curve.csv alone")
    p = add("validate", cmd_validate, "NIST-style validation run of lib/ + config/ + doc/, log checks, timing")
    p.add_argument("--output", default=str(paths.SUB_VALIDATION / "output"), help="logs and templates folder")
    p.add_argument("--images", nargs="*", default=[],
                   help="extra image folders, one sub-folder per person (a file at a folder's top level is "
                        "its own subject); registry images and ../shared's MEDS are always used")
    p.add_argument("--timing-images", type=count, default=40, help="images in the timing check")
    p.add_argument("--timing-repeats", type=count, default=1, help="calls per image in the timing check")
    p.add_argument("--core", type=core, default=0, help="the CPU core the timing check is pinned to (default 0)")
    p = add("time", cmd_time, "NIST-style timing of the built library: one pinned core, per size class and stage")
    p.add_argument("--output", default=str(paths.BUILD / "timing"), help="logs folder")
    p.add_argument("--images", type=count, default=30, help="real images (registry + ../shared when present)")
    p.add_argument("--large", type=whole, default=4, help="of which upscaled to 3000x4500 (NIST sends such sizes; "
                                                          "default 4)")
    p.add_argument("--repeats", type=count, default=3, help="calls per image")
    p.add_argument("--core", type=core, default=0, help="the CPU core the process is pinned to (default 0)")
    p = add("bench", cmd_bench, "TVM untuned/tuned vs onnxruntime, OpenVINO, OpenCV DNN, MNN on one core")
    p.add_argument("--output", default=str(paths.ROOT / "docs" / "benchmark.md"), help="markdown report")
    p.add_argument("--images", type=count, default=12, help="real images for the end-to-end figure")
    p.add_argument("--runs", type=count, default=15, help="timed runs per model and engine")
    p.add_argument("--rounds", type=count, default=E2E_ROUNDS,
                   help="end to end: rounds over the images, the engines taking turns image by image "
                        "(more rounds, a steadier figure on a host whose speed drifts; default %(default)s)")
    p.add_argument("--no-compile", action="store_true", help="reuse build/bench/{untuned,tuned}")
    p.add_argument("--isa", choices=tuple(CLASSES), default=None,
                   help="compile for this class's CPU instead of [submission] target (e.g. avx2 on an "
                        "AVX-512 machine: haswell code and the avx2 records)")
    p = add("package", cmd_package, "make libfrvt_11_<co>_<seq>.v3.1.tar.gz (and .gpg when a key is set); refuses "
                                    "unless the last validation passed on exactly these lib/ and config/ files")
    p.add_argument("--validation-output", default=str(paths.SUB_VALIDATION / "output"),
                   help="the validation run to pack (its summary.json is checked)")
    p.add_argument("--dist", default=str(paths.ROOT / "dist"), help="where the archive is written")
    p = add("parity", cmd_parity, "compare config/'s compiled models with onnxruntime on real faces")
    p.add_argument("--config-dir", default=str(paths.SUB_CONFIG), help="compiled config folder")

    def with_backend(p, library: bool = False):
        """library: the command can also run lib/ through the NIST driver (a whole set of images)."""
        p.add_argument("--backend", choices=("tvm", "onnxruntime") + (("library",) if library else ()),
                       default="tvm", help="tvm: the compiled config/ in this process (default); onnxruntime: the "
                       "reference" + ("; library: lib/ + config/ through the NIST driver, checked against tvm"
                                      if library else ""))
        p.add_argument("--config-dir", default=str(paths.SUB_CONFIG), help="compiled config folder")
        return p

    p = with_backend(add("embed", cmd_embed, "detect, align and embed images; print eyes and template size"))
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, PPM/PGM...); exit 1 if any gives no template")
    p = with_backend(add("compare", cmd_compare, "match two images and print the score"))
    p.add_argument("image1", help="an image file")
    p.add_argument("image2", help="another image file; exit 1 if either gives no template")
    p = with_backend(add("eval", cmd_eval, "accuracy: pairs CSVs (img1,img2,label[,id1,id2]) as listed and over "
                                           "every pair of their images (FNMR at FMR 1e-2..1e-6 with 95% "
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
    p.add_argument("--limit", type=count, default=0, help="use only the first N pairs of each file (of each "
                                                          "fold for an LFW pairs.txt)")
    p = with_backend(add("report", cmd_report, "one self-contained HTML page: accuracy tables with DET/ROC curves "
                                               "and histograms, validation, timing per stage, sizes, build facts"),
                     library=True)
    p.add_argument("pairs", nargs="*", help="pairs.csv files (default: the registry images and every "
                                            "../shared/data set)")
    p.add_argument("--output", default=str(paths.BUILD / "report.html"), help="the HTML file")
    p.add_argument("--validation-output", default=str(paths.SUB_VALIDATION / "output"),
                   help="the validation run to report (default: validation/output)")
    p.add_argument("--timing-output", default=str(paths.BUILD / "timing"),
                   help="`make timing`'s logs (else the validation's timing is shown)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except FrvtError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
