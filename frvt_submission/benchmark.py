"""Side-by-side single-core benchmark: TVM (untuned, tuned) vs onnxruntime, OpenVINO, OpenCV DNN, MNN.

Run pinned to one core (`make bench` does `taskset -c 0` with every thread
variable at 1). Per model: median latency, achieved GFLOP/s and the fraction of
this core's measured FP32 peak; end to end: template creation per image with
the same pre/post-processing around each engine. Ratios come from one run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .compile.isa_class import host_cpu_name
from .config import ModelSettings, Settings
from frvt_runtime.engine import Engine
from .reference import tensor_input

TensorRun = Callable[[np.ndarray], dict[str, np.ndarray]]  # a peer over the float NCHW tensor


# -- work and peak ---------------------------------------------------------------
def model_gflop(onnx_path: Path) -> float:
    """2 x multiply-accumulates of Conv/Gemm/MatMul, from ONNX shape inference; ValueError when an
    operand's shape stays unknown (a count that skipped it would be silently low)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    # data_prop: shapes computed in the graph (RetinaFace's Resize sizes come from Shape -> Concat)
    # are followed through; without it every conv after them had an unknown batch and counted 0.
    m = shape_inference.infer_shapes(onnx.load(str(onnx_path)), data_prop=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input)}
    inits = {i.name: numpy_helper.to_array(i).shape for i in m.graph.initializer}
    def shape(name):  # weights may be initializers or (folded) Reshape outputs
        return list(inits[name]) if name in inits else shapes.get(name)

    macs = 0
    for n in m.graph.node:
        if n.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        out, w = shapes.get(n.output[0]), shape(n.input[1])
        if not out or not w or not all(d > 0 for d in out + w):
            raise ValueError(f"{Path(onnx_path).name}: {n.op_type} {n.name or n.output[0]!r} has no known "
                             f"shape (output {out}, weight {w})")
        if n.op_type == "Conv":
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            trans_b = any(a.name == "transB" and a.i for a in n.attribute)
            macs += int(np.prod(out)) * int(w[1] if trans_b else w[0])
        else:
            macs += int(np.prod(out)) * int(w[-2])
    return 2 * macs / 1e9


def sgemm_gflops(size: int = 1536, runs: int = 5) -> float:
    """Single-thread OpenBLAS SGEMM (numpy), best of runs: what a tuned library reaches."""
    a = np.random.rand(size, size).astype(np.float32)
    b = np.random.rand(size, size).astype(np.float32)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(runs))
    return 2 * size ** 3 / best / 1e9


def fma_peak_gflops(work: Path) -> tuple[float, int]:
    """(GFLOP/s, vector lanes) of cpp_api/tools/fma_peak.c built for this CPU: the FP32
    peak of one core. OpenBLAS may not use the widest vectors a new CPU has (on Zen 5
    its SGEMM stays at AVX2 speed), so SGEMM alone understates the peak."""
    from . import paths

    work.mkdir(parents=True, exist_ok=True)
    exe = work / "fma_peak"
    subprocess.run(["gcc", "-O2", "-march=native", "-o", str(exe), str(paths.ROOT / "cpp_api" / "tools" / "fma_peak.c")],
                   check=True, capture_output=True)
    gflops, lanes, _chains, _sink = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    return float(gflops), int(lanes)


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved_ms(engines: dict[str, Engine], x: np.ndarray, runs: int) -> dict[str, float]:
    """Median ms per engine, the engines taking turns run by run: a slow spell of a shared host
    (seen: one engine's median 35% up in a run where the others were not) hits them all alike."""
    times = {name: [] for name in engines}
    for _ in range(runs):
        for name, eng in engines.items():
            times[name].append(_seconds(lambda: eng(x)))
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


# End to end, the images go round this many times. This host's speed drifts by 20-40% within a
# minute (seen: one engine's end-to-end median 34 then 51 ms in two back-to-back passes), and one
# pass over the images per engine, each engine's images in a block, gave TVM / fastest-peer ratios
# of 0.71 and 0.88 for the same build; rounds with the engines taking turns image by image kept
# four runs within 0.80-0.84.
E2E_ROUNDS = 5


def e2e_rounds(pipelines: dict, images: list[np.ndarray], rounds: int, log=print) -> dict[str, list[list[float]]]:
    """Template-creation ms[engine][round][image]. In each round, image by image, every engine in
    turn makes one untimed template (its weights and buffers back in cache, as in a process that
    runs only it) and one timed; the engines' order rotates round by round, so none always runs
    just after the slow untuned build."""
    names = list(pipelines)
    ms = {name: [[] for _ in range(rounds)] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for img in images:
            for name in order:
                p = pipelines[name]
                p.create_template([img])
                ms[name][r].append(_seconds(lambda: p.create_template([img])) * 1e3)
        ratio = round_ratios({name: [times[r]] for name, times in ms.items()})
        log(f"  end to end, round {r + 1}/{rounds}: TVM tuned / fastest peer "
            + (f"{ratio[0]:.2f}" if ratio else "n/a"))
    return ms


def round_ratios(ms: dict[str, list[list[float]]]) -> list[float]:
    """Per round: TVM tuned's median over the images / the fastest peer's; [] without both."""
    peers = [name for name in ms if name in PEERS]
    if "TVM tuned" not in ms or not peers:
        return []
    return [statistics.median(ms["TVM tuned"][r]) / min(statistics.median(ms[name][r]) for name in peers)
            for r in range(len(ms["TVM tuned"]))]


# An engine whose outputs are further than this from the reference's (cosine over all outputs) is
# timed for nothing: seen, MNN ran the int8 QDQ SFace in 0.24 ms with wrong outputs. Peers of an
# int8 model differ from the reference by quantizer rounding flips (compile.parity: 0.999).
MIN_OUTPUT_COSINE = 0.99


def output_cosine(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> float:
    """Cosine between two engines' outputs on one input, all outputs in order as one vector; -1
    when they differ in number or size (an engine that dropped or reshaped an output)."""
    a, b = list(got.values()), list(want.values())
    if len(a) != len(b) or any(np.size(x) != np.size(y) for x, y in zip(a, b)):
        return -1.0
    a = np.concatenate([np.asarray(x, np.float64).ravel() for x in a])
    b = np.concatenate([np.asarray(y, np.float64).ravel() for y in b])
    denom = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / denom) if denom > 0 and np.isfinite(denom) else -1.0


def median_ms(engine: Engine, x: np.ndarray, warmup: int = 3, runs: int = 15) -> float:
    for _ in range(warmup):
        engine(x)
    return statistics.median(_seconds(lambda: engine(x)) for _ in range(runs)) * 1e3


# -- engines -----------------------------------------------------------------------
def tvm_engine(config_dir: Path, name: str) -> Engine:
    from frvt_runtime.config_dir import load_models, read_manifest, running_path

    from .tvm_wheel import wheel_runtime_dir

    manifest = read_manifest(config_dir)
    return load_models(config_dir, manifest, running_path(config_dir, manifest), [name], wheel_runtime_dir())[name]


def use_build_kernels(config_dir: Path) -> None:
    """Resample with config_dir's compiled kernels (frvt_runtime.resample), as the library does."""
    from frvt_runtime import resample
    from frvt_runtime.config_dir import config_kernels, path_entries, read_manifest, running_path

    from .tvm_wheel import wheel_runtime_dir

    manifest = read_manifest(config_dir)
    entries = path_entries(manifest, running_path(config_dir, manifest))
    resample.use_kernels(config_kernels(config_dir, entries, wheel_runtime_dir()))


def ort_engine(onnx_path: Path) -> TensorRun:
    from .reference import OrtModel

    return OrtModel(onnx_path)


def openvino_engine(onnx_path: Path) -> TensorRun:
    import openvino as ov

    from .models.prepare import output_names

    core = ov.Core()
    compiled = core.compile_model(str(onnx_path), "CPU", {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1,
                                                          "INFERENCE_PRECISION_HINT": "f32"})
    names = output_names(onnx_path)  # compiled outputs keep the graph's order
    request = compiled.create_infer_request()

    def run(x):
        res = request.infer([x])
        return {n: np.asarray(res[o]) for n, o in zip(names, compiled.outputs)}
    return run


def image_graph(onnx_path: Path, spec: ModelSettings, work: Path) -> Path:
    """The model with TVM's in-graph input conversion in front (compile/image_input.py):
    it takes the uint8 1xHxWx3 image, so a peer can fuse the conversion as TVM does."""
    import onnx

    from .compile.image_input import with_image_input

    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{spec.name}.onnx"
    onnx.save(with_image_input(onnx.load(str(onnx_path)), spec.colour, spec.mean, spec.scale, spec.input_size),
              str(out))
    return out


def opencv_engine(onnx_path: Path) -> TensorRun:
    import cv2

    from .models.prepare import output_names

    cv2.setNumThreads(1)
    net = cv2.dnn.readNetFromONNX(str(onnx_path))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    names = output_names(onnx_path)

    def run(x):
        net.setInput(x)
        return dict(zip(names, net.forward(names)))
    return run


def mnn_engine(onnx_path: Path, work: Path) -> TensorRun:
    import MNN
    import onnx

    from .models.prepare import output_names

    work.mkdir(parents=True, exist_ok=True)
    out = work / (onnx_path.stem + ".mnn")
    if not out.is_file():
        # The console script sits beside the interpreter; the venv need not be on PATH.
        conv = Path(sys.executable).parent / "mnnconvert"
        proc = subprocess.run([str(conv) if conv.is_file() else "mnnconvert", "-f", "ONNX", "--modelFile", str(onnx_path), "--MNNModel", str(out),
                               "--bizCode", "frvt"], capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"mnnconvert failed: {proc.stdout[-300:]}{proc.stderr[-300:]}")
    g = onnx.load(str(onnx_path), load_external_data=False).graph
    inputs, outputs = [g.input[0].name], output_names(onnx_path)
    rt = MNN.nn.create_runtime_manager(({"precision": "high", "numThread": 1, "backend": 0},))
    module = MNN.nn.load_module_from_file(str(out), inputs, outputs, runtime_manager=rt)

    def run(x):
        var = MNN.expr.const(np.ascontiguousarray(x), list(x.shape), MNN.expr.NCHW)
        res = module.forward([var])
        return {n: np.asarray(r.read()) for n, r in zip(outputs, res)}
    return run


# -- the run -------------------------------------------------------------------------
IMAGE_GRAPH_PEER = "OpenVINO, image graph"
# The engines the TVM rows' ratios are taken against: the fastest single-thread peers.
PEERS = ("onnxruntime", "OpenVINO", IMAGE_GRAPH_PEER)


def _batch_of_one(run: TensorRun) -> Engine:
    return lambda image: run(image[None])


def engines_for(spec: ModelSettings, onnx_path: Path, bench_dir: Path) -> dict[str, Callable[[], Engine]]:
    """Every engine takes the uint8 image: TVM's graph converts it itself, the peers get
    numpy's float NCHW tensor (to_tensor), as the pipeline would give them; OpenVINO
    also runs the graph TVM compiles, conversion included (IMAGE_GRAPH_PEER)."""
    return {
        "TVM untuned": lambda: tvm_engine(bench_dir / "untuned", spec.name),
        "TVM tuned": lambda: tvm_engine(bench_dir / "tuned", spec.name),
        "onnxruntime": lambda: tensor_input(ort_engine(onnx_path), spec),
        "OpenVINO": lambda: tensor_input(openvino_engine(onnx_path), spec),
        IMAGE_GRAPH_PEER: lambda: _batch_of_one(openvino_engine(image_graph(onnx_path, spec, bench_dir / "image_graph"))),
        "OpenCV DNN": lambda: tensor_input(opencv_engine(onnx_path), spec),
        "MNN": lambda: tensor_input(mnn_engine(onnx_path, bench_dir / "mnn"), spec),
    }


def run_benchmark(settings: Settings, onnx_paths: dict[str, Path], bench_dir: Path, images: list[np.ndarray],
                  runs: int, log=print, rounds: int = E2E_ROUNDS) -> dict:
    from frvt_runtime.detect import Detector
    from frvt_runtime.embed import Recognizer
    from frvt_runtime.pipeline import FacePipeline

    sgemm = sgemm_gflops()
    try:
        peak, lanes = fma_peak_gflops(bench_dir)
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        log(f"FMA peak loop unavailable ({exc}); using SGEMM as the peak")
        peak, lanes = sgemm, 0
    log(f"FP32 peak of this core: {peak:.1f} GFLOP/s (FMA loop, {lanes} lanes); 1-thread SGEMM {sgemm:.1f}")
    model_rows, loaded, notes, gflops = [], {}, [], {}
    from .compile.build_models import compiled_specs

    for spec in compiled_specs(settings):  # the detector at each of its sizes, then the recognizer
        try:
            gflop = model_gflop(onnx_paths[spec.name])
        except ValueError as exc:  # no work figure rather than a wrong one: GFLOP/s and of peak read n/a
            gflop = None
            notes.append(f"GFLOP of {spec.name} unknown: {exc}")
            log(f"  {spec.name}: GFLOP unknown ({exc})")
        gflops[spec.name] = gflop
        w, h = spec.input_size
        x = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        engines = {}
        for engine_name, make in engines_for(spec, onnx_paths[spec.name], bench_dir).items():
            try:
                eng = make()
                median_ms(eng, x, runs=1)  # loads, warms up, and fails here if it cannot run
            except Exception as exc:  # a peer that cannot load the model is reported, not fatal
                notes.append(f"{engine_name} / {spec.name}: {type(exc).__name__}: {str(exc)[:160]}")
                log(f"  {spec.name:10s} {engine_name:12s} failed: {str(exc)[:120]}")
                continue
            engines[engine_name] = eng
        reference = engines.get("onnxruntime") or engines.get("TVM tuned")
        want = reference(x) if reference else None
        for engine_name, eng in list(engines.items()):
            cos = output_cosine(eng(x), want) if want is not None else 1.0
            if cos < MIN_OUTPUT_COSINE:  # a wrong answer fast is no figure: dropped, and said so
                notes.append(f"{engine_name} / {spec.name}: outputs differ from the reference's (cosine "
                             f"{cos:.3f} < {MIN_OUTPUT_COSINE}): not timed")
                log(f"  {spec.name:10s} {engine_name:12s} wrong outputs (cosine {cos:.3f}): not timed")
                del engines[engine_name]
                continue
            loaded[(engine_name, spec.name)] = eng
        for engine_name, ms in interleaved_ms(engines, x, runs).items():
            log(f"  {spec.name:16s} {engine_name:12s} {ms:8.2f} ms")
            rate = None if gflop is None else gflop / (ms / 1e3)
            model_rows.append([spec.name, engine_name, ms, rate, None if rate is None else rate / peak])
    # Every engine's pipeline resamples as the library does: with the tuned build's compiled kernels.
    use_build_kernels(bench_dir / "tuned")
    pipelines = {}
    det_spec = settings.detector
    for engine_name in engines_for(det_spec, Path(), bench_dir):
        # The same pipeline for every engine: the detector at each of its sizes, the same refinement.
        dets = {size: loaded.get((engine_name, det_spec.model_name(size))) for size in det_spec.sizes()}
        rec = loaded.get((engine_name, "recognizer"))
        if None not in dets.values() and rec is not None:
            pipelines[engine_name] = FacePipeline(settings, Detector(det_spec, dets, settings.pipeline.downscale),
                                                  Recognizer(settings.recognizer, rec))
    per_round = e2e_rounds(pipelines, images, rounds, log)
    ratios = round_ratios(per_round)
    e2e_rows = [[name, statistics.median(statistics.median(image) for image in zip(*times))]
                for name, times in per_round.items()]
    for name, ms in e2e_rows:
        log(f"  end to end {name:12s} {ms:8.1f} ms")
    return {"peak": peak, "lanes": lanes, "sgemm": sgemm, "models": model_rows, "e2e": e2e_rows, "notes": notes, "images": len(images),
            "cpu": host_cpu_name(), "gflop": gflops, "rounds": rounds, "round_ratios": ratios}


def single_thread_environment() -> dict:
    from frvt_runtime.runtime_env import THREAD_VARIABLES

    return {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
