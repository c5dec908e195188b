"""Where a compiled model's time goes: each TVM kernel timed inside the model run and alone, in one process.

`taskset -c 0 python -m frvt_submission.kernel_times [--config-dir DIR] [--models detector]`

MetaSchedule tunes and estimates every kernel alone, repeated with its inputs
and weights in cache. Inside a model run, each kernel instead reads what the
previous one left in memory; for memory-bound layers that is most of the cost.
This prints, per kernel of config/'s models: its ms per model run in sequence
(the VM's instrument hook, so the run is a little slower than uninstrumented),
the same call repeated alone on the same arguments (its data in cache), and
their ratio; medians over rounds of one model run then every kernel alone.
"""

from __future__ import annotations

import os

from frvt_runtime.runtime_env import THREAD_VARIABLES

for _name in THREAD_VARIABLES:
    os.environ[_name] = "1"  # as the library sets them

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from frvt_runtime.config_dir import MODEL_FILES  # noqa: E402

from . import paths  # noqa: E402


BACK_TO_BACK = 3  # timed calls per kernel and round, after one untimed


class _Bound:
    """vm with main called as main(image, *packed weights); everything else passed through."""

    def __init__(self, vm, packed):
        self._vm, self._packed = vm, packed

    def __getitem__(self, name):
        return (lambda image: self._vm["main"](image, *self._packed)) if name == "main" else self._vm[name]

    def set_instrument(self, fn):
        self._vm.set_instrument(fn)


def kernel_times(so_path: Path, input_size: tuple[int, int], runs: int = 20,
                 weights: list[np.ndarray] | None = None) -> dict:
    """{"model_ms": median uninstrumented run, "rows": [(kernel, calls per run, in sequence ms per
    run, alone ms per run)]}, medians, rows slowest first. VM builtins (allocation, tuples) are
    left out. weights: the model's lifted weights (compile/weights.py), packed once before timing."""
    import tvm
    from tvm import relax

    dev = tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(so_path)), dev)
    w, h = input_size
    image = tvm.runtime.tensor(np.random.default_rng(0).integers(0, 256, (1, h, w, 3), dtype=np.uint8), dev)
    packed = tuple(vm["main_transform_params"]([tvm.runtime.tensor(w_, dev) for w_ in weights])) if weights else ()
    vm = _Bound(vm, packed)
    for _ in range(3):
        vm["main"](image)
    plain = []
    for _ in range(runs):
        t = time.perf_counter()
        vm["main"](image)
        plain.append(time.perf_counter() - t)

    spent: dict[str, list[float]] = {}  # per kernel: seconds in each run
    solo: dict[str, list[float]] = {}   # per kernel: seconds alone, one figure per run
    calls: dict[str, int] = {}
    first_args: dict[str, tuple] = {}
    started: dict[str, float] = {}
    run = [0]

    def instrument(func, name, before_run, ret, *args):
        if name.startswith("vm.builtin."):
            return 0
        if before_run:
            first_args.setdefault(name, (func, args))
            started[name] = time.perf_counter()
        else:
            spent.setdefault(name, [0.0] * runs)[run[0]] += time.perf_counter() - started[name]
            calls[name] = calls.get(name, 0) + 1
        return 0

    # Each round is one model run, then every kernel alone: a slow spell of a shared host
    # then weighs on both columns alike. Alone, a kernel runs once untimed (its data back in
    # cache), then back to back; the fastest of those is the round's figure.
    for run[0] in range(runs):
        vm.set_instrument(instrument)
        vm["main"](image)
        vm.set_instrument(None)
        for name, (func, args) in first_args.items():
            func(*args)
            best = float("inf")
            for _ in range(BACK_TO_BACK):
                t = time.perf_counter()
                func(*args)
                best = min(best, time.perf_counter() - t)
            solo.setdefault(name, []).append(best)

    rows = []
    for name in first_args:
        per_run = calls[name] // runs
        # The first call's arguments stand for every call of this kernel in a run.
        rows.append((name, per_run, 1e3 * float(np.median(spent[name])), 1e3 * per_run * float(np.median(solo[name]))))
    rows.sort(key=lambda r: -r[2])
    return {"model_ms": 1e3 * float(np.median(plain)), "rows": rows}


def table(result: dict, top: int) -> str:
    from tabulate import tabulate

    rows = result["rows"]
    body = [(name, n, f"{seq:.3f}", f"{solo:.3f}", f"{seq / solo:.2f}" if solo > 0 else "-")
            for name, n, seq, solo in rows[:top]]
    seq_sum, solo_sum = sum(r[2] for r in rows), sum(r[3] for r in rows)
    body.append((f"all {len(rows)} kernels", "", f"{seq_sum:.3f}", f"{solo_sum:.3f}", f"{seq_sum / solo_sum:.2f}"))
    return tabulate(body, headers=["kernel", "calls/run", "in sequence ms", "alone ms", "ratio"],
                    tablefmt="github", disable_numparse=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m frvt_submission.kernel_times", description=__doc__.split("\n\n")[0],
                                 epilog="Pin it: taskset -c 0. Noisy hosts move both columns; compare ratios. "
                                        "More trials for the slowest: frvt tune --models MODEL --kernels "
                                        "KERNEL ..., with the names as printed here.")
    ap.add_argument("--config-dir", type=Path, default=paths.DEFAULT_OUTPUTS.config, help="a compiled config/ (default: %(default)s)")
    ap.add_argument("--models", nargs="+", default=list(MODEL_FILES), metavar="MODEL",
                    help="models of config/'s models.json, e.g. detector_320x320 (default: %(default)s)")
    ap.add_argument("--code-path", default=None, metavar="PATH",
                    help="the config's code path to time, e.g. avx2 on an AVX-512 host (default: the one the "
                         "library runs here)")
    ap.add_argument("--runs", type=int, default=20, help="model runs timed (default: %(default)s)")
    ap.add_argument("--top", type=int, default=15, help="kernels listed, slowest first (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.top < 1:
        ap.error("--runs and --top must be at least 1")

    from frvt_runtime.config import load_runtime
    from frvt_runtime.config_dir import (PIPELINE_FILE, load_weights, model_entries, model_params, path_names,
                                         read_manifest, running_path, verified_model)
    from frvt_runtime.errors import FrvtError

    try:
        settings = load_runtime(args.config_dir / PIPELINE_FILE)
        manifest = read_manifest(args.config_dir)
        if args.code_path is not None and args.code_path not in path_names(manifest):
            ap.error(f"--code-path {args.code_path!r}: {args.config_dir} has the paths "
                     f"{', '.join(path_names(manifest))}")  # (else said to be pipeline.json's)
        entries = model_entries(manifest, running_path(args.config_dir, manifest, args.code_path))
        weights = load_weights(args.config_dir, manifest)
        specs = {settings.detector.model_name(size): settings.detector.at_size(size)
                 for size in settings.detector.sizes()}
        specs["recognizer"] = settings.recognizer
        unknown = [m for m in args.models if m not in specs or m not in entries]
        if unknown:
            ap.error(f"--models: {', '.join(unknown)} not in {args.config_dir} (it has {', '.join(entries)})")
        for name in args.models:
            so = verified_model(args.config_dir, entries[name])
            spec = specs[name]
            result = kernel_times(so, spec.input_size, args.runs, model_params(weights, entries[name], name))
            print(f"\n{name} ({so.name}, cpu {entries[name].get('cpu')}, records {entries[name].get('records') or 'none'}): "
                  f"{result['model_ms']:.2f} ms per run uninstrumented, median of {args.runs}")
            print(table(result, args.top))
    except FrvtError as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
