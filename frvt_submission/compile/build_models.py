"""Compile the configured models and the resampling kernels for each code path the target asks for, applying the committed tuning records."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..config import ModelSettings, Settings
from frvt_runtime.errors import ConfigError
from frvt_runtime.config_dir import KERNELS, KERNELS_FILE
from ..models.prepare import cleaned_onnx, output_names
from ..models.sources import fetch_model, model_stem
from .isa_class import CLASSES, NIST_TARGET, class_cpu, cpu_class, rank, target_class, vector_features
from .resample_kernels import build_resample_kernels
from .tvm_build import compile_model, has_records, resolve_target, target_tag


def records_dir(folder: str, model: str) -> Path:
    """tuning/<folder>/<model>/: folder is an ISA class ("avx2") or, for host-specific records, an LLVM
    CPU; model a records_name."""
    return paths.TUNING_DB / folder / model


def records_name(spec: ModelSettings) -> str:
    """A compiled model's records folder: its source file's name and its input size (the kernels'
    shapes), e.g. face_detection_yunet_2023mar_int8bq_320x320. By the model, not by its role, so
    that two settings files with different detectors never read or add to each other's records
    (model.json's SHA-256 then tells two files of one name apart)."""
    if not (spec.path or spec.member):
        raise ConfigError(f"[{spec.name}] names no model file: set wheel + member, or path")
    width, height = spec.input_size
    return f"{model_stem(spec)}_{width}x{height}"


def tuning_folder(target, cpu_given: bool) -> str:
    """Where tuning for target keeps its records: its class, or its own CPU's folder for --cpu."""
    return target_tag(target) if cpu_given else (target_class(target) or target_tag(target))


def _candidates(target, model: str) -> list[tuple[str, str | None, str]]:
    """(folder, class, why) for each records folder target may replay, best first.

    The target's own CPU (host-specific tuning), its class, another CPU of its
    class, then narrower classes, widest first. Never a wider class: its vector
    width and register blocking do not fit (see isa_class.CLASSES)."""
    mine = target_class(target)
    folders = sorted(d.parent.name for d in paths.TUNING_DB.glob(f"*/{model}") if has_records(d))
    klass = {f: (f if f in CLASSES else cpu_class(f)) for f in folders}
    found = []
    if target_tag(target) in folders:
        found.append((target_tag(target), mine, "this CPU's own"))
    if mine in folders:
        found.append((mine, mine, "its class's"))
    found += [(f, mine, f"another {mine} CPU's") for f in folders if f not in CLASSES and klass[f] == mine
              and f != target_tag(target)]
    narrower = [f for f in folders if klass[f] is not None and rank(klass[f]) < rank(mine)]
    found += [(f, klass[f], f"a narrower class's ({klass[f]})")
              for f in sorted(narrower, key=lambda f: (-rank(klass[f]), f not in CLASSES, f))]
    return found


def pick_records(target, model: str, log=print, name: str = "") -> tuple[Path | None, str | None]:
    """The records folder compile applies for target, and the ISA class they were tuned for.
    model: the records folder's name (records_name); name: the model's, as `tune --models` takes it."""
    name = name or model
    found = _candidates(target, model)
    if not found:
        return None, None
    folder, klass, why = found[0]
    if why != "this CPU's own" and why != "its class's":
        log(f"[{name}] no {target_class(target)} tuning records; using {why}: tuning/{folder}/{model} "
            f"(`tune --isa {target_class(target)} --models {name}` on a machine of that class, or with --rpc, "
            f"tunes for it)")
    return records_dir(folder, model), klass


def compiled_specs(settings: Settings) -> list[ModelSettings]:
    """Every model config/ holds, each compiled on its own: the detector at each of its input
    sizes (largest first, named by DetectorSpec.model_name), then the recognizer."""
    det = settings.detector
    return [det.at_size(size) for size in reversed(det.sizes())] + [settings.recognizer]


def path_targets(target_setting: str) -> list[tuple[str, str]]:
    """(path name, LLVM CPU) of each code path a [submission] target builds, widest first: "nist"
    builds one per ISA class (NIST promises AVX2 and has timed on AVX-512 Xeons), "host" or a CPU
    name one path, named by its class."""
    if target_setting == NIST_TARGET:
        return [(isa, class_cpu(isa)) for isa in reversed(CLASSES)]
    target = resolve_target(target_setting)
    return [(target_class(target) or target_tag(target), target_setting)]


def compile_path(settings: Settings, compiled_dir: Path, cpu: str, log=print, use_records: bool = True) -> dict:
    """One code path: {"cpu", "isa_class", "requires", "models": model name -> {"so", "outputs", "cpu",
    "tuned", "records", "onnx", ...}, with the resampling kernels under KERNELS}. compiled_dir: the
    settings file's build/compiled (paths.Outputs.compiled)."""
    target = resolve_target(cpu)
    tag = target_tag(target)
    log(f"compile: target {target}")
    compiled = {}
    for spec in compiled_specs(settings):
        onnx_path = cleaned_onnx(spec, log)
        out = compiled_dir / tag / ("" if use_records else "untuned") / f"{spec.name}.so"
        db, records_class = pick_records(target, records_name(spec), log, spec.name) if use_records else (None, None)
        facts = compile_model(onnx_path, spec, target, out, db, log, original=fetch_model(spec))
        compiled[spec.name] = {"so": out, "outputs": output_names(onnx_path), "cpu": tag,
                               "isa_class": target_class(target), "onnx": onnx_path,
                               "records": db.parent.name if facts["records_applied"] else "",
                               "records_class": records_class if facts["records_applied"] else None,
                               **{k: facts[k] for k in ("tuned", "records_model", "kernels_without_records",
                                                        "unscheduled", "hand_scheduled", "graph_passes", "int8_convs")}}
    out = compiled_dir / tag / KERNELS_FILE
    compiled[KERNELS] = {"so": out, "cpu": tag, "isa_class": target_class(target),
                         **build_resample_kernels(target, out, log)}
    return {"cpu": tag, "isa_class": target_class(target), "requires": vector_features(target), "models": compiled}


def compile_all(settings: Settings, compiled_dir: Path, cpu: str = "", log=print,
                use_records: bool = True) -> dict[str, dict]:
    """path name -> compile_path's answer, widest first; cpu "" means the settings' target."""
    return {name: compile_path(settings, compiled_dir, path_cpu, log, use_records)
            for name, path_cpu in path_targets(cpu or settings.submission.target)}
