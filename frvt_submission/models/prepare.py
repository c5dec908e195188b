"""From settings to a verified, cleaned fp32 ONNX file per model (cached under build/models)."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from frvt_runtime.config import ModelSpec
from .clean import clean_model
from frvt_runtime.config_dir import sha256_of

from .sources import fetch_model


def cleaned_onnx(spec: ModelSpec, log=lambda msg: None) -> Path:
    """Fetch + verify the original, then write (once per original hash) its cleaned fp32 copy."""
    original = fetch_model(spec)
    digest = sha256_of(original)
    out = paths.MODEL_CACHE / "clean" / f"{original.stem}_fp32.onnx"
    stamp = out.with_suffix(".source-sha256")
    if out.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        return out
    changes = clean_model(original, out)
    stamp.write_text(digest + "\n")
    log(f"[{spec.name}] cleaned {original.name}: {changes}")
    return out


def output_names(onnx_path: Path) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(str(onnx_path), load_external_data=False).graph.output]
