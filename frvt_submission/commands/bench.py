"""`frvt bench`: TVM untuned and tuned against onnxruntime, OpenVINO, OpenCV DNN and MNN on one core."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import paths
from ..benchmark import E2E_ROUNDS
from ..compile.isa_class import CLASSES
from .common import add_command, count, log, settings, writable


# oneDNN's names (its ONEDNN_MAX_CPU_ISA) for our classes: OpenVINO's convolutions are oneDNN's.
ONEDNN_ISA = {"avx2": "AVX2", "avx512": "AVX512_CORE"}


def capped_peers(isa: str | None, host_class: str | None) -> str:
    """When the benchmark is of a class narrower than this host's, cap OpenVINO's oneDNN kernels at
    it (ONEDNN_MAX_CPU_ISA, read once, at oneDNN's first use: set before OpenVINO loads) and say so
    for the report; the other peers have no such switch and use what the host has. '' otherwise."""
    import os

    order = list(CLASSES)  # narrowest first
    if isa not in order or host_class not in order or order.index(isa) >= order.index(host_class):
        return ""
    os.environ["ONEDNN_MAX_CPU_ISA"] = ONEDNN_ISA[isa]
    return (f"Peers on this {host_class} host, for the {isa} class: OpenVINO's oneDNN kernels capped at {isa} "
            f"(`ONEDNN_MAX_CPU_ISA={ONEDNN_ISA[isa]}`); onnxruntime, OpenCV DNN and MNN have no such switch "
            f"and use this host's {host_class} instructions.")


def cmd_bench(args) -> int:
    import subprocess

    from frvt_runtime.config_dir import model_entries, path_names, read_manifest
    from ..bench_report import merge_section, report_markdown
    from ..benchmark import run_benchmark
    from ..compile.build_models import compiled_specs
    from ..compile.isa_class import class_cpu, class_of_features, host_features
    from ..imagefile import read_image
    from ..measurements import bench_json, write_measurement
    from ..models.prepare import cleaned_onnx
    from ..testdata import test_images

    writable("--output", Path(args.output), "file")  # (the report is written last, after minutes of work)
    s = settings(args)
    bench = args.outputs.bench
    # One path, the class asked for or this host's: the table is of the code that ran.
    host_class = class_of_features(host_features())
    cpu = ["--cpu", class_cpu(args.isa or host_class)]
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
    peers_note = capped_peers(args.isa, host_class)
    if peers_note:
        log(peers_note)
    r = run_benchmark(s, onnx_paths, bench, images[: args.images], args.runs, log, args.rounds)
    r["peers_isa"] = peers_note
    first = manifest["paths"][path_names(manifest)[0]]
    r["build"] = {"cpu": first["cpu"], "isa_class": first.get("isa_class"), "models": model_entries(manifest)}
    r["host_class"] = host_class
    # One document for every pair: a profile's section is keyed by its name and its class.
    pair = "" if args.outputs.is_default else Path(args.settings).stem
    command = "make bench" + (f" SETTINGS={paths.shown(args.settings)}" if pair else "") + \
        (f" BENCH_ISA={args.isa}" if args.isa else "")
    section = report_markdown(r, command, pair)
    key = f"{pair}/{first.get('isa_class')}" if pair else str(first.get("isa_class"))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(merge_section(out.read_text() if out.is_file() else "", key, section))
    log(section)
    log(f"wrote the {key} section of {out}")
    measured = bench_json(first.get("isa_class"), args.outputs.measurements)
    log(f"wrote {write_measurement(measured, r, bench / 'tuned')}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "bench", cmd_bench,
                    "TVM untuned/tuned vs onnxruntime, OpenVINO, OpenCV DNN, MNN on one core")
    p.add_argument("--output", default=str(paths.ROOT / "docs" / "benchmark.md"),
                   help="markdown report, one section per class and model pair (default: the project's "
                        "docs/benchmark.md, whatever the settings file)")
    p.add_argument("--images", type=count, default=12, help="how many real images the end-to-end figure "
                                                          "uses (registry test images, then ../shared's)")
    p.add_argument("--runs", type=count, default=15, help="timed runs per model and engine")
    p.add_argument("--rounds", type=count, default=E2E_ROUNDS,
                   help="end to end: rounds over the images, the engines taking turns image by image "
                        "(more rounds, a steadier figure on a host whose speed drifts; default %(default)s)")
    p.add_argument("--no-compile", action="store_true", help="reuse the untuned and tuned builds in build/bench/")
    p.add_argument("--isa", choices=tuple(CLASSES), default=None,
                   help="compile for this class's CPU instead of [submission] target (e.g. avx2 on an "
                        "AVX-512 machine: haswell code and the avx2 records)")
