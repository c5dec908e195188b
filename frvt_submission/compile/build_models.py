"""Compile both configured models for one CPU, applying the committed tuning records."""

from __future__ import annotations

from .. import paths
from ..config import Settings
from ..models.prepare import cleaned_onnx, output_names
from .tvm_build import compile_model, resolve_target, target_tag


def records_dir(cpu_tag: str, model: str):
    return paths.TUNING_DB / cpu_tag / model


def compile_all(settings: Settings, cpu: str = "", log=print, use_records: bool = True) -> dict[str, dict]:
    """model name -> {"so", "outputs", "cpu", "tuned", "onnx"}; cpu "" means the settings' target."""
    target = resolve_target(cpu or settings.submission.target)
    tag = target_tag(target)
    log(f"compile: target {target}")
    compiled = {}
    for spec in (settings.detector, settings.recognizer):
        onnx_path = cleaned_onnx(spec, log)
        out = paths.COMPILED / tag / ("" if use_records else "untuned") / f"{spec.name}.so"
        db = records_dir(tag, spec.name) if use_records else None
        facts = compile_model(onnx_path, spec, target, out, db, log)
        compiled[spec.name] = {"so": out, "outputs": output_names(onnx_path), "cpu": tag,
                               "tuned": facts["tuned"], "onnx": onnx_path}
    return compiled
