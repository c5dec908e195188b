"""ONNX -> Relax -> (tuning records applied) -> one exported .so per model, for one LLVM CPU."""

from __future__ import annotations

import difflib
import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..config import ModelSettings
from ..errors import CompileError
from ..progress import heartbeat
from ..strip import strip_unneeded
from .graph_passes import GRAPH_PASSES
from .isa_class import NIST_CPU, llvm_knows_cpu
from .weights import lift_weights, save_weights

# Weight pre-packing rewrites constant weight layouts at compile time to match
# the tuned schedules; the same flag must be used when tuning and compiling,
# or the records' workloads would not match.
WEIGHT_PREPACK = True

# A MetaSchedule JSON database: the names MetaScheduleApplyDatabase(work_dir) expects.
WORKLOADS_FILE = "database_workload.json"
RECORDS_FILE = "database_tuning_record.json"
# Beside them: which model the records were tuned for (its source SHA-256), so that a
# build counts as tuned only with its own model's records, whatever the folder's name.
MODEL_FILE = "model.json"


@contextmanager
def tvm_step(what: str):
    """Any exception of a TVM step becomes one CompileError naming the step, not a traceback
    from inside TVM. TVM's message can be empty (seen for a TVMScript DiagnosticError, whose
    text went to stderr), so the exception's type is always given."""
    try:
        yield
    except CompileError:
        raise
    except Exception as exc:
        detail = str(exc).strip() or "no message (TVM_BACKTRACE=1 shows TVM's trace)"
        raise CompileError(f"{what} failed: {type(exc).__name__}: {detail}") from None


def write_records_model(db_dir: Path, spec: ModelSettings, passes=GRAPH_PASSES) -> None:
    """Record which model, and which graph passes, a records folder was tuned with (tune writes it)."""
    db_dir.mkdir(parents=True, exist_ok=True)
    facts = {"sha256": spec.sha256, "layout": spec.layout, "graph_passes": list(passes)}
    (db_dir / MODEL_FILE).write_text(json.dumps(facts, indent=1) + "\n")


def records_graph_passes(db_dir: Path | None) -> tuple[str, ...]:
    """The graph passes a records folder was tuned with: GRAPH_PASSES without records (nothing
    to match), none for records that predate the list (their kernels are the ones without passes)."""
    from .graph_passes import check_names

    if not has_records(db_dir):
        return GRAPH_PASSES
    try:
        names = tuple(json.loads((Path(db_dir) / MODEL_FILE).read_text()).get("graph_passes", ()))
    except (OSError, ValueError, AttributeError):
        return ()
    try:
        check_names(names)
    except ValueError as exc:  # records from a newer frvt-submission, or an edited model.json
        raise CompileError(f"{Path(db_dir) / MODEL_FILE}: {exc}") from None
    return names


def records_model(db_dir: Path | None) -> str | None:
    """The source SHA-256 of the model a records folder was tuned for; None when unknown."""
    try:
        return str(json.loads((Path(db_dir) / MODEL_FILE).read_text())["sha256"]) if db_dir else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def host_cpu() -> str:
    from tvm.target import codegen

    return str(codegen.llvm_get_system_cpu())


def resolve_target(cpu: str):
    """A single-core LLVM target for cpu's scheduling, without the features NIST_CPU lacks
    (e.g. Zen 5's AVX512-VBMI byte permutes, which LLVM picks for int8 weights).
    TVM 0.27 accepts only the dict form with num-cores."""
    import tvm
    from tvm.target import codegen

    mcpu = host_cpu() if cpu in ("", "host") else cpu
    if not llvm_knows_cpu(mcpu):  # a generic x86-64 build would be slow, and no records would match
        near = difflib.get_close_matches(mcpu, known_cpus(), 3)
        raise CompileError(f"LLVM knows no CPU {mcpu!r}" + (f"; did you mean {' or '.join(near)}?" if near else
                                                          "") + f" (NIST's Xeon Gold 6140: {NIST_CPU})")
    try:
        target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 1})
        nist = tvm.target.Target({"kind": "llvm", "mcpu": NIST_CPU, "num-cores": 1})
        extra = {str(f) for f in codegen.llvm_get_cpu_features(target)} - \
                {str(f) for f in codegen.llvm_get_cpu_features(nist)}
        if not extra:
            return target
        return tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 1,
                                  "mattr": [f"-{f}" for f in sorted(extra)]})
    except Exception as exc:  # TVM raises its own error types for bad attributes
        raise CompileError(f"LLVM target for cpu {mcpu!r} rejected: {exc}") from None


def known_cpus() -> list[str]:
    """The CPU names this TVM's LLVM accepts as mcpu (for suggestions)."""
    import tvm
    from tvm.target import codegen

    return [str(c) for c in codegen.llvm_get_cpu_archlist(tvm.target.Target({"kind": "llvm", "num-cores": 1}))]


def target_tag(target) -> str:
    """Directory-safe name of a target (the CPU name), used for tuning records and outputs."""
    return str(target.attrs.get("mcpu", "generic"))


def import_onnx(onnx_path: Path, spec: ModelSettings, original: Path | None = None, graph_pass_names=GRAPH_PASSES):
    """Import a cleaned ONNX model, fed from the uint8 1xHxWx3 RGB image (see image_input);
    weights become constants. With the original (quantized) model, dense layers whose
    weights were blockwise int8 there keep them (see int8_dense). graph_pass_names: the
    build's graph passes (graph_passes.py); bgr_conv_weights acts here."""
    import onnx
    from tvm.relax.frontend.onnx import from_onnx
    from tvm.relax.transform import FoldConstant

    from .image_input import IMAGE_INPUT, with_image_input
    from .int8_convs import use_int8_convs
    from .int8_dense import blockwise_gemm_weights, use_int8_dense

    model = onnx.load(str(onnx_path))
    inputs = [i.name for i in model.graph.input]
    if len(inputs) != 1:
        raise CompileError(f"{onnx_path}: expected one image input, found {inputs}")
    w, h = spec.input_size
    model = with_image_input(model, spec.colour, spec.mean, spec.scale, (w, h),
                             bgr_weights="bgr_conv_weights" in graph_pass_names)
    with tvm_step(f"{onnx_path}: TVM ONNX import"):
        mod = from_onnx(model, shape_dict={IMAGE_INPUT: [1, h, w, 3]}, keep_params_in_input=False)
    mod, _ = use_int8_convs(mod)  # before FoldConstant turns the int8 weights into float ones
    if original is None:
        return mod
    # Folded first so that each transposed Gemm weight is one constant to compare.
    mod, _ = use_int8_dense(FoldConstant()(mod), blockwise_gemm_weights(original))
    return mod


def pre_tuning_passes(layout: str = "NCHW", graph_pass_names=()):
    """Passes run before tuning and before applying records (must be identical for both)."""
    from tvm import relax
    from tvm.relax import transform

    from .graph_passes import graph_passes
    from .int8_convs import int8_kernel_passes
    from .layout import layout_passes

    passes = [
        # BatchNorm after a conv becomes part of its weights and bias: otherwise it
        # decomposes into a per-element subtract, divide, multiply and add epilogue.
        transform.FoldBatchnormToConv2D(),
        transform.FoldConstant(),
        transform.DecomposeOpsForInference(),
        transform.CanonicalizeBindings(),
        *layout_passes(layout),
        *int8_kernel_passes(),  # only the int8 model's convs (int8_convs.py): no kernel of another changes
        *graph_passes(graph_pass_names),
        relax.get_pipeline("zero"),
    ]
    if WEIGHT_PREPACK:
        passes.append(transform.AttachAttrLayoutFreeBuffers())
    return passes


def prepare(mod, target, layout: str = "NCHW", graph_pass_names=()):
    """Convert the conv layout, run the graph passes, legalize + fuse into TIR tasks: the
    module that tuning extracts its tasks from."""
    import tvm

    passes = ", ".join(graph_pass_names) or "none"
    with target, tvm_step(f"legalize + fuse for {target_tag(target)} (graph passes: {passes})"):
        return tvm.transform.Sequential(pre_tuning_passes(layout, graph_pass_names))(mod)


def has_records(db_dir: Path | None) -> bool:
    """A usable database: a workload file and at least one tuning record."""
    if db_dir is None:
        return False
    records = Path(db_dir) / RECORDS_FILE
    return (Path(db_dir) / WORKLOADS_FILE).is_file() and records.is_file() and records.stat().st_size > 0


def apply_records(mod, target, db_dir: Path | None):
    """Apply a MetaSchedule database when one exists; the weight pre-packing it asks for is split
    out of the kernels, for weights.lift_weights to move into main_transform_params."""
    import tvm
    from tvm.relax import transform

    if not has_records(db_dir):
        return mod, False
    from .int8_intrin import register

    register()  # the int8 kernels' records tensorize with it
    # The passes read the target when they are constructed.
    with target, tvm_step(f"applying the tuning records in {db_dir}"):
        post = [transform.MetaScheduleApplyDatabase(str(db_dir))]
        if WEIGHT_PREPACK:
            post += [transform.SplitLayoutRewritePreproc()]
        return tvm.transform.Sequential(post)(mod), True


def int8_kernels(mod) -> int:
    """How many convs the module computes in int8 (calls of int8_convs' kernels, fused or not):
    a fact of the build, not of the settings."""
    import tvm
    from tvm import relax

    from .int8_convs import is_int8_kernel

    call_tir, found = tvm.ir.Op.get("relax.call_tir"), [0]

    def visit(node):
        if isinstance(node, relax.Call) and node.op == call_tir and is_int8_kernel(node.args[0].name_hint):
            found[0] += 1

    relax.analysis.post_order_visit(mod["main"].body, visit)
    return found[0]


def kernels_without_records(mod) -> list[str]:
    """The module's kernels that no tuning record scheduled (after apply_records): they
    build with TVM's default schedule, often 10-50x slower than a tuned one."""
    from tvm.tirx import PrimFunc

    return sorted(gv.name_hint for gv, f in mod.functions_items()
                  if isinstance(f, PrimFunc) and not (f.attrs and f.attrs.get("tirx.is_scheduled")))


def hand_scheduled_kernels(mod) -> list[str]:
    """The module's kernels whose loops are written out by hand (dw_units.py, image_kernels.flat_normalise_kernel):
    no record schedules them."""
    from tvm.tirx import PrimFunc

    from .dw_units import is_hand_scheduled

    return sorted(gv.name_hint for gv, f in mod.functions_items() if isinstance(f, PrimFunc) and is_hand_scheduled(f))


def compile_model(onnx_path: Path, spec: ModelSettings, target, out_so: Path,
                  db_dir: Path | None = None, log: Callable[[str], None] = print,
                  original: Path | None = None) -> dict:
    """Import, prepare, apply records, build and export one model; return build facts."""
    from tvm import relax

    t0 = time.perf_counter()
    log(f"[{spec.name}] import {onnx_path.name}")
    graph = records_graph_passes(db_dir)
    mod = import_onnx(onnx_path, spec, original, graph)
    log(f"[{spec.name}] legalize + fuse for {target_tag(target)} (graph passes: {', '.join(graph) or 'none'})")
    mod = prepare(mod, target, spec.layout, graph)
    int8 = int8_kernels(mod)  # (before the records split each kernel's weight pre-packing out)
    mod, applied = apply_records(mod, target, db_dir)
    log(f"[{spec.name}] tuning records {'applied from ' + str(db_dir) if applied else 'absent: untuned build'}")
    missing = kernels_without_records(mod)
    tuned_for = records_model(db_dir) if applied else None
    same_model = applied and bool(spec.sha256) and tuned_for == spec.sha256
    if applied and not same_model:
        log(f"[{spec.name}] warning: the records in {db_dir} were not tuned for this model (its SHA-256 "
            f"{spec.sha256[:12] or '?'} != {(tuned_for or 'unknown')[:12]}): the build is not tuned. "
            f"Run `python -m frvt_submission tune --models {spec.name}`.")
    if applied and missing:
        log(f"[{spec.name}] warning: {len(missing)} kernel(s) have no tuning record and get TVM's default "
            f"schedule: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''} (the graph, passes or "
            f"layout changed since tuning?). Run `python -m frvt_submission tune --models {spec.name} --new-only`.")
    hand = hand_scheduled_kernels(mod)
    with tvm_step(f"[{spec.name}] lifting the weights out of the code"):
        mod, weights = lift_weights(mod)
    with tvm_step(f"[{spec.name}] relax.build"), heartbeat(log, f"[{spec.name}] relax.build"):
        exe = relax.build(mod, target=target)
    out_so.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_so.with_name(out_so.stem + ".part.so")
    exe.export_library(str(tmp))
    saved = strip_unneeded([tmp], log)  # debug info and local symbols: the runtime needs neither
    save_weights(out_so, weights)
    tmp.replace(out_so)
    facts = {
        "model": spec.name, "onnx": onnx_path.name, "target": str(target), "cpu": target_tag(target),
        # Tuned means every kernel was scheduled by a record of this very model, or by hand.
        "tuned": bool(same_model and not missing), "records_applied": applied,
        "records_model": tuned_for, "graph_passes": list(graph),
        "kernels_without_records": len(missing), "unscheduled": missing,
        "hand_scheduled": hand, "int8_convs": int8, "weights": len(weights), "weights_mb": round(sum(w.nbytes for w in weights) / 1e6, 2),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    out_so.with_suffix(".json").write_text(json.dumps(facts, indent=1))
    log(f"[{spec.name}] exported {out_so} in {facts['seconds']} s ({saved / 1e3:.0f} kB of symbols stripped)")
    return facts
