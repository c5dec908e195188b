"""MetaSchedule tuning of one model for one CPU; records kept in tuning/<cpu>/<model>/ (resumable)."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from frvt_runtime.errors import FrvtError

from ..config import ModelSettings
from .builder import reusing_builder
from .graph_passes import GRAPH_PASSES
from .tvm_build import RECORDS_FILE, WORKLOADS_FILE, import_onnx, prepare, target_tag, write_records_model

# Each fresh builder worker imports tvm.s_tir.tensor_intrin (~28 s here), which
# the stock 30 s timeout kills: every build then fails with only "Build errors".
BUILDER_TIMEOUT_S = 300.0


# Records kept per workload after a run: the best seeds the next run's search and
# is what compile applies; every trial's record would grow the repository by MBs.
KEEP_PER_WORKLOAD = 2
# On one core the evolutionary search, not measurement, dominates: ~2 min per task
# and round at population 512, ~25 s at 128 (with 16 candidates measured per round).
POPULATION = 128
# MetaSchedule records a failed trial with a run time of 1e10 s.
FAILED_RUN_S = 1e9


def run_ms(run_secs) -> float | None:
    """Mean of a trial's measured run times in ms; None for a failed or unmeasured trial."""
    secs = [float(x) for x in run_secs or []]
    mean = sum(secs) / len(secs) if secs else math.inf
    return 1e3 * mean if mean < FAILED_RUN_S else None


def compact_records(db_dir: Path, keep: int = KEEP_PER_WORKLOAD) -> tuple[int, int]:
    """Keep the `keep` fastest valid records per workload; return (lines before, after).

    A record line is [workload index, [trace, run seconds, target, args]]; failed
    trials carry no finite run time and are dropped.
    """
    path = db_dir / RECORDS_FILE
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    by_workload: dict[int, list[tuple[float, str]]] = {}
    for ln in lines:
        workload, record = json.loads(ln)
        ms = run_ms(record[1])
        if ms is not None:
            by_workload.setdefault(workload, []).append((ms, ln))
    kept = [ln for w in sorted(by_workload) for _, ln in sorted(by_workload[w])[:keep]]
    tmp = path.with_suffix(".part")
    tmp.write_text("".join(ln + "\n" for ln in kept))
    os.replace(tmp, path)
    return len(lines), len(kept)


CURVE_FILE = "curve.csv"  # trials,minutes,estimated_ms: cumulative over runs


def _curve_offset(curve: Path) -> tuple[int, float]:
    rows = curve.read_text().splitlines()[1:] if curve.is_file() else []
    if not rows:
        return 0, 0.0
    trials, minutes, _ = rows[-1].split(",")
    return int(trials), float(minutes)


def best_record_ms(database, kernel) -> float | None:
    """Mean time (ms) of kernel's fastest successful record in database; None when it has none."""
    if database is None or not database.has_workload(kernel):
        return None
    top = database.get_top_k(database.commit_workload(kernel), 1)
    return run_ms(top[0].run_secs) if top else None


def _seed_best(database, tasks) -> dict[int, float]:
    """Best known time (ms) per task from earlier runs' records, so a resumed curve starts there."""
    known = {i: best_record_ms(database, task.ctx.mod) for i, task in enumerate(tasks)}
    return {i: ms for i, ms in known.items() if ms is not None}


def tune_contexts(tasks, target, work_dir: str, strategy) -> tuple[list, list]:
    """MetaSchedule's contexts for tasks: the int8 kernels' search space tiles with the target's
    dot-product intrinsic (int8_intrin.py), every other kernel's is MetaSchedule's default."""
    from tvm.s_tir.meta_schedule.relax_integration import extracted_tasks_to_tune_contexts

    from .int8_convs import is_int8_kernel
    from .int8_intrin import space

    contexts, weights = [], []
    for int8 in (False, True):
        group = [t for t in tasks if is_int8_kernel(t.task_name) == int8]
        if group:
            c, w = extracted_tasks_to_tune_contexts(group, work_dir, strategy=strategy,
                                                    space=space(target) if int8 else "post-order-apply")
            contexts += list(c)
            weights += list(w)
    return contexts, weights


def tunable_tasks(mod, target) -> list:
    """The model's MetaSchedule tasks, without the hand-scheduled kernels (dw_units.py):
    MetaSchedule extracts those too, but has no block structure in them to search over."""
    from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

    from .dw_units import is_hand_scheduled

    return [t for t in extract_tasks(mod, target)
            if not any(is_hand_scheduled(f) for _, f in t.dispatched[0].functions_items())]


PREPACKED = "_prepacked"  # the suffix a built kernel's name gains when its weights are packed at build time


def named_tasks(tasks, names) -> list:
    """Those of tasks named in names: MetaSchedule's task names, or the compiled kernels' names
    as kernel_times prints them (which may end in _prepacked). A name that is no task of the
    model is refused with the names there are, since a typo would tune nothing for minutes."""
    want = {n[:-len(PREPACKED)] if n.endswith(PREPACKED) else n for n in names}
    have = {t.task_name for t in tasks}
    unknown = sorted(want - have)
    if unknown:
        raise FrvtError(f"--kernels: this model has no tunable kernel named {', '.join(unknown)} (hand-scheduled "
                        f"kernels have no records); its kernels: {', '.join(sorted(have))}")
    return [t for t in tasks if t.task_name in want]


def without_records(tasks, database) -> list:
    """Those of tasks that have no successful record in database."""
    return [t for t in tasks if best_record_ms(database, t.dispatched[0]) is None]


def _unnamed_log_handlers_dropped() -> None:
    """MetaSchedule rebuilds its logging with dictConfig from the *names* of its logger's
    handlers: one without a name (seen after an earlier run in the same pytest process)
    makes tune_relax fail with "'NoneType' object has no attribute 'format'"."""
    import logging

    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    for handler in [h for h in logger.handlers if h.get_name() is None]:
        logger.removeHandler(handler)


class TimeCapReached(Exception):
    """Raised through MetaSchedule to end a tuning run at its time cap."""


def progress(name: str, curve: Path | None, log=print, deadline: float | None = None, database=None):
    """A measure callback: after each measured round, log and record the scheduler's
    estimate of the whole model's latency (sum of task weight x best kernel time), and
    end tuning once time.monotonic() passes deadline.

    MetaSchedule joins measurements only after its first round over all tasks, so
    both act from then on. The cap raises TimeCapReached once every task's first
    round is in the database (this callback runs after AddToDatabase); tune_model
    catches it. Terminating tasks from here instead crashed the scheduler: it may
    hand out a task that a later join in the same pass terminated.
    """
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

    trials0, minutes0 = _curve_offset(curve) if curve else (0, 0.0)
    if curve and not curve.is_file():
        curve.write_text("trials,minutes,estimated_ms\n")
    t0 = time.monotonic()

    best_ms: dict[int, float] = {}
    measured = [0]
    seeded = [False]
    joined: set[int] = set()

    @derived_object
    class Progress(PyMeasureCallback):
        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
            tasks = list(task_scheduler.tasks_)
            if not seeded[0]:
                best_ms.update(_seed_best(database, tasks))
                seeded[0] = True
            measured[0] += len(runner_results)
            joined.add(task_id)
            for r in runner_results:
                ms = run_ms(r.run_secs) if r.error_msg is None else None
                if ms is not None:
                    best_ms[task_id] = min(best_ms.get(task_id, math.inf), ms)
            # Estimate once every task has a time or has been tried: a kernel whose every
            # candidate failed must not hold the curve back; the log names how many.
            if len(best_ms) == len(tasks) or len(joined) == len(tasks):
                est = sum(float(t.task_weight) * best_ms[i] for i, t in enumerate(tasks) if i in best_ms)
                trials = trials0 + measured[0]
                minutes = minutes0 + (time.monotonic() - t0) / 60
                if curve:
                    with curve.open("a") as f:
                        f.write(f"{trials},{minutes:.1f},{est:.3f}\n")
                failing = len(tasks) - len(best_ms)
                log(f"[{name}] {trials} trials, {minutes:.1f} min: estimated {est:.2f} ms"
                    + (f" ({failing} kernel(s) without a successful measurement yet)" if failing else ""))
            if deadline is not None and time.monotonic() >= deadline and len(joined) == len(tasks):
                raise TimeCapReached(f"[{name}] time cap reached after {measured[0]} trials")

    return Progress()


def tune_model(onnx_path: Path, spec: ModelSettings, target, db_dir: Path, trials: int,
               per_task: int = 64, log=print, population: int = POPULATION, per_iter: int = 16,
               minutes: float | None = None, new_only: bool = False, original: Path | None = None,
               runner=None, passes=GRAPH_PASSES, kernels: tuple[str, ...] = ()) -> dict:
    """Add up to `trials` measured candidates to db_dir (existing records seed the search),
    stopping early after `minutes` (see progress). new_only: only the kernels without a
    valid record (the estimate then covers just those, so curve.csv is not written).
    kernels: only these kernels (named_tasks), records or not; curve.csv is not written either.
    runner: where candidates are measured (default: this machine; see rpc.rpc_runner).
    passes: the graph passes the kernels are made with, recorded in model.json for compile."""
    from tvm.s_tir import meta_schedule as ms

    mod = prepare(import_onnx(onnx_path, spec, original, passes), target, spec.layout, passes)
    t0 = time.perf_counter()
    deadline = None if minutes is None else time.monotonic() + minutes * 60
    # The tasks are handed to MetaSchedule as extracted here: tune_relax would extract them
    # again and select by op_names as substrings ("reshape" also picks "reshape1").
    tasks = tunable_tasks(mod, target)
    if kernels:  # (a name that is no kernel is refused here, before the folder is touched)
        tasks = named_tasks(tasks, kernels)
    from .int8_intrin import register

    register()  # a folder's int8 records name the dot intrinsics: loading them needs them, fp32 model or not
    db_dir.mkdir(parents=True, exist_ok=True)
    database = ms.database.JSONDatabase(path_workload=str(db_dir / WORKLOADS_FILE),
                                        path_tuning_record=str(db_dir / RECORDS_FILE),
                                        allow_missing=True)
    if new_only:
        tasks = without_records(tasks, database)
    if not tasks:
        log(f"[{spec.name}] " + ("every kernel has a record: nothing new to tune" if new_only
                                 else "no kernel for MetaSchedule to tune"))
        return {"model": spec.name, "trials": 0, "minutes": 0.0, "records": 0, "kept": 0}
    write_records_model(db_dir, spec, passes)
    log(f"[{spec.name}] tuning {trials} trials for {target_tag(target)} into {db_dir}")
    builder = reusing_builder(BUILDER_TIMEOUT_S)
    runner = runner or ms.runner.LocalRunner(timeout_sec=60.0)
    strategy = ms.search_strategy.EvolutionarySearch(population_size=population,
                                                     genetic_num_iters=4 if population >= 512 else 2)
    callbacks = list(ms.measure_callback.MeasureCallback.create("default"))
    partial = new_only or bool(kernels)  # the estimate covers only some kernels: no curve row
    if partial:
        which = "the kernels without records" if new_only else "the kernels named"
        log(f"[{spec.name}] tuning only {which}: {', '.join(t.task_name for t in tasks)}")
    callbacks.append(progress(spec.name, None if partial else db_dir / CURVE_FILE, log, deadline, database))
    _unnamed_log_handlers_dropped()
    try:
        work_dir = str(db_dir / "logs")
        contexts, weights = tune_contexts(tasks, target, work_dir, strategy)
        # tune_relax's defaults for the rest (xgb cost model, gradient task scheduler).
        ms.tune_tasks(tasks=contexts, task_weights=weights, work_dir=work_dir, max_trials_global=trials,
                      max_trials_per_task=per_task, num_trials_per_iter=per_iter, builder=builder,
                      runner=runner, database=database, cost_model="xgb", measure_callbacks=callbacks,
                      task_scheduler="gradient", module_equality="structural")
    except Exception as exc:  # TVM's FFI may re-wrap the callback's exception; recognise it by text
        if not isinstance(exc, TimeCapReached) and "time cap reached" not in str(exc):
            raise
        log(f"[{spec.name}] time cap reached: stopping (measured rounds are in the database)")
    elapsed = (time.perf_counter() - t0) / 60
    before, after = compact_records(db_dir)
    log(f"[{spec.name}] tuning done in {elapsed:.1f} min; {before} records compacted to the best "
        f"{KEEP_PER_WORKLOAD} per workload ({after})")
    return {"model": spec.name, "trials": trials, "minutes": round(elapsed, 1), "records": before, "kept": after}
