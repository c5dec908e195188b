"""`frvt tune`: MetaSchedule tuning records per ISA class (or CPU), here or on RPC-tracked machines."""

from __future__ import annotations

from frvt_runtime.errors import FrvtError
from ..compile.graph_passes import GRAPH_PASSES
from ..compile.isa_class import CLASSES, NIST_CPU
from ..compile.tune import POPULATION
from .common import add_command, count, log, minutes, settings


def cmd_tune(args) -> int:
    from ..compile.build_models import compiled_specs, records_dir, records_name, tuning_folder
    from ..compile.isa_class import NIST_TARGET, class_cpu, host_class, target_class
    from ..compile.tune import tune_model
    from ..compile.tvm_build import resolve_target
    from ..models.prepare import cleaned_onnx
    from ..models.sources import fetch_model

    # Options that would be ignored are refused: a run of hours on the wrong settings is costly.
    if args.cpu and args.isa:
        raise FrvtError("give --isa (a class, tuned for its own CPU) or --cpu (one CPU), not both")
    if args.add_pass and not args.new_only:
        raise FrvtError("--add-pass adds a graph pass to a folder's own (--new-only); a full run uses every pass")
    if args.kernels and (args.new_only or len(args.models or []) != 1):
        raise FrvtError("--kernels names kernels of one model: give it with --models MODEL (one), "
                        "without --new-only")
    if args.key and not args.rpc:
        raise FrvtError("--key names the machines of an RPC tracker: it needs --rpc HOST:PORT")
    s = settings(args)
    specs = {spec.name: spec for spec in compiled_specs(s)}
    unknown = [m for m in args.models or [] if m not in specs]
    if unknown:
        raise FrvtError(f"--models: no model {', '.join(unknown)} in these settings (they have {', '.join(specs)})")
    if args.cpu:
        target = resolve_target(args.cpu)
    else:  # a class is tuned by compiling for its own CPU: the records then fit every CPU of the class
        isa = args.isa or (host_class() if s.submission.target == NIST_TARGET
                           else target_class(resolve_target(s.submission.target)))
        if isa is None:
            raise FrvtError(f"target {s.submission.target!r} is below AVX2: name a class with --isa or a CPU with --cpu")
        target = resolve_target(class_cpu(isa))
    folder = tuning_folder(target, bool(args.cpu))
    passes = tuple(p for p in GRAPH_PASSES if p not in args.skip_pass)
    log(f"tune: records for {folder} ({target_class(target)} class), compiled for {target}; "
        f"graph passes {', '.join(passes) or 'none'}")
    runner = None
    if args.rpc:
        from ..compile.rpc import rpc_runner

        runner = rpc_runner(args.rpc, args.key or "frvt", log)
    else:
        from ..compile.isa_class import host_can_run

        runs, missing = host_can_run(target)
        if not runs:  # every candidate would die of an illegal instruction
            raise FrvtError(f"this CPU lacks {', '.join(missing)}, which code for {folder} uses: tune on an "
                            f"{target_class(target)} machine, or measure there with --rpc HOST:PORT --key KEY")
    for name in args.models or list(specs):
        spec = specs[name]
        db = records_dir(folder, records_name(spec))
        # A partial run (--new-only, --kernels) adds kernels to a folder's records: made with its passes
        partial = args.new_only or bool(args.kernels)
        own = passes_for_new_only(db, args.skip_pass, args.add_pass) if partial else None
        if own is not None and own != passes:
            option = "--new-only" if args.new_only else "--kernels"
            log(f"[{name}] {option}: the records' own graph passes, {', '.join(own) or 'none'}")
        tune_model(cleaned_onnx(spec, log), spec, target, db, args.trials,
                   args.per_task, log, args.population, args.per_iter, args.minutes, args.new_only,
                   original=fetch_model(spec), runner=runner, passes=passes if own is None else own,
                   kernels=tuple(args.kernels))
    log("records kept in tuning/; run `compile` to apply them")
    return 0


def passes_for_new_only(db, skip, add=()) -> tuple[str, ...] | None:
    """The graph passes `--new-only` adds to a records folder with: the folder's own (less those
    skipped, plus those added, in GRAPH_PASSES' order), so its new kernels match its old ones and
    model.json lists what they were made with; None for a folder without records (GRAPH_PASSES
    then, as for a full run)."""
    from ..compile.tvm_build import has_records, records_graph_passes

    if not has_records(db):
        return None
    own = set(records_graph_passes(db)) | set(add)
    return tuple(p for p in GRAPH_PASSES if p in own and p not in skip)


def register(sub) -> None:
    p = add_command(sub, "tune", cmd_tune, "MetaSchedule tuning (resumable: records add up in "
                    "tuning/<class>/<model file>_<w>x<h>/)")
    cpus = ", ".join(f"{name}: {cpu}" + (", NIST's" if cpu == NIST_CPU else "") for name, (cpu, _) in CLASSES.items())
    p.add_argument("--isa", choices=tuple(CLASSES), default=None,
                   help=f"instruction-set class to tune, compiled for its CPU ({cpus}); default: the class of "
                        "[submission] target. The machine measuring must have that class: an AVX-512 machine "
                        "can tune avx2, not the reverse")
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
    p.add_argument("--add-pass", nargs="+", default=[], choices=GRAPH_PASSES, metavar="PASS",
                   help="with --new-only: add these graph passes to the folder's own and tune the kernels they "
                        "make (e.g. merge_shared_units, on records tuned before it existed); model.json then "
                        "lists them, and compile builds with them")
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
    p.add_argument("--minutes", type=minutes, default=None,
                   help="time cap per model, checked once the first round over all tasks is measured "
                        "(default: none, --trials ends the run)")
    p.add_argument("--kernels", nargs="+", default=[], metavar="KERNEL",
                   help="tune only these kernels of the one model --models names, records or not, with the "
                        "folder's own graph passes: e.g. the slowest ones `python -m frvt_submission.kernel_times` "
                        "lists (its names, _prepacked or not); leaves curve.csv alone")
    p.add_argument("--new-only", action="store_true",
                   help="tune only kernels without a record yet (after a change to the graph or passes), "
                        "with the graph passes the folder's records were tuned with; quick, and leaves "
                        "curve.csv alone")
