"""Compile both configured models for one CPU, applying the committed tuning records."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..config import Settings
from ..models.prepare import cleaned_onnx, output_names
from ..models.sources import fetch_model
from .tvm_build import compile_model, has_records, resolve_target, target_tag


def records_dir(cpu_tag: str, model: str) -> Path:
    return paths.TUNING_DB / cpu_tag / model


def pick_records(cpu_tag: str, model: str, log=print) -> Path | None:
    """The target's own records, else another CPU's (a record is a schedule trace of a
    target-independent TIR workload: it replays on any LLVM CPU, tuned or not for it)."""
    own = records_dir(cpu_tag, model)
    if has_records(own):
        return own
    others = sorted(d for d in paths.TUNING_DB.glob(f"*/{model}") if has_records(d))
    if others:
        log(f"[{model}] no tuning records for {cpu_tag}; using {others[0].parent.name}'s "
            f"(run `tune --cpu {cpu_tag}` to tune for this CPU)")
        return others[0]
    return None


def compile_all(settings: Settings, cpu: str = "", log=print, use_records: bool = True) -> dict[str, dict]:
    """model name -> {"so", "outputs", "cpu", "tuned", "records", "onnx"}; cpu "" means the settings' target."""
    target = resolve_target(cpu or settings.submission.target)
    tag = target_tag(target)
    log(f"compile: target {target}")
    compiled = {}
    for spec in (settings.detector, settings.recognizer):
        onnx_path = cleaned_onnx(spec, log)
        out = paths.COMPILED / tag / ("" if use_records else "untuned") / f"{spec.name}.so"
        db = pick_records(tag, spec.name, log) if use_records else None
        facts = compile_model(onnx_path, spec, target, out, db, log, original=fetch_model(spec))
        compiled[spec.name] = {"so": out, "outputs": output_names(onnx_path), "cpu": tag,
                               "tuned": facts["tuned"], "records": db.parent.name if facts["tuned"] else "",
                               "onnx": onnx_path}
    return compiled
