"""From settings to a verified, cleaned ONNX file per model: fp32, or its int8 QDQ form (cached under build/models)."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..config import ModelSettings
from .clean import clean_model
from .converters import check_input_facts
from frvt_runtime.config_dir import sha256_of
from frvt_runtime.errors import ConfigError

from .sources import fetch_model


def cleaned_onnx(spec: ModelSettings, log=lambda msg: None) -> Path:
    """The model every build step runs: the cleaned fp32 copy (clean_fp32_onnx), and with int8 = true
    its QDQ form over quantization/<model>.json (models/quantize.py)."""
    path, original, digest = _fetched_and_cleaned(spec, log)
    if not spec.int8:
        return path
    from .quantize import calibration_file, quantized_model, read_calibration

    cal_path = calibration_file(original.stem)
    cal = read_calibration(cal_path, digest)
    out = path.with_name(f"{path.stem}_int8.onnx")
    stamp, source = out.with_suffix(".source-sha256"), f"{digest} {sha256_of(cal_path)} {sha256_of(path)}"
    if not (out.is_file() and stamp.is_file() and stamp.read_text().strip() == source):
        stamp.unlink(missing_ok=True)
        quantized_model(path, cal, out)
        stamp.write_text(source + "\n")
        log(f"[{spec.name}] {len(cal['layers'])} convs quantized to int8 ({cal_path.name}): {out.name}")
    return out


def clean_fp32_onnx(spec: ModelSettings, log=lambda msg: None) -> Path:
    """Fetch + verify the original, then write (once per original hash) its cleaned fp32 copy."""
    return _fetched_and_cleaned(spec, log)[0]


def _check_is_onnx(spec: ModelSettings, original: Path) -> None:
    """ConfigError naming the file when it does not parse as an ONNX model (a protobuf DecodeError
    from deep inside the first reader, else)."""
    import onnx

    try:
        onnx.load(str(original), load_external_data=False)
    except Exception as exc:  # (protobuf's DecodeError, onnx's own, an OSError: each means "not this file")
        raise ConfigError(f"[{spec.name}] {original} is not an ONNX model ({type(exc).__name__}: {exc}); give an "
                          f".onnx file, or name the converter for its format with convert = \"...\"") from None


def _fetched_and_cleaned(spec: ModelSettings, log) -> tuple[Path, Path, str]:
    """(the cleaned fp32 copy at the model's input size, the original, the original's SHA-256)."""
    original = fetch_model(spec)
    _check_is_onnx(spec, original)
    check_input_facts(spec, original)
    digest = sha256_of(original)
    out = paths.MODEL_CACHE / "clean" / f"{original.stem}_fp32.onnx"
    stamp = out.with_suffix(".source-sha256")
    if not (out.is_file() and stamp.is_file() and stamp.read_text().strip() == digest):
        stamp.unlink(missing_ok=True)  # a copy that fails its check is never taken for a checked one
        changes = clean_model(original, out)
        if changes["resize_inputs_dropped"]:  # a graph rewrite: proven on real images (the weight fold,
            # whose originals onnxruntime cannot run, is checked against ONNX's semantics in the tests)
            from ..testdata import test_images
            from .clean_check import check_cleaned

            images = sorted(p for p in test_images().iterdir() if p.suffix in (".jpg", ".png"))
            changes["same_outputs"] = check_cleaned(original, out, spec, images)
        stamp.write_text(digest + "\n")
        log(f"[{spec.name}] cleaned {original.name}: {changes}")
    return at_input_size(out, spec.input_size, digest, spec.name, log), original, digest


# Written beside a resized copy with its source's hash: a copy made by an older at_input_size is
# made again.
SIZED_FORMAT = "sized-2"


def at_input_size(path: Path, size: tuple[int, int], digest: str, name: str, log=lambda msg: None) -> Path:
    """path itself when its image input is already 1x3xHxW of size (w, h), else a copy (cached per
    source hash) whose input has that size and whose outputs and inner shapes are left to be
    inferred again: a fully convolutional detector at another of its compiled sizes."""
    import onnx

    w, h = size
    sized = path.with_name(f"{path.stem}_{w}x{h}.onnx")
    stamp, source = sized.with_suffix(".source-sha256"), f"{digest} {SIZED_FORMAT}"
    if sized.is_file() and stamp.is_file() and stamp.read_text().strip() == source:
        return sized
    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4 or (dims[2].dim_value, dims[3].dim_value) == (h, w):
        return path
    dims[2].dim_value, dims[3].dim_value = h, w  # setting the value clears a symbolic dim_param
    if not dims[0].dim_value:  # a symbolic batch (RetinaFace's): the pipeline feeds one image
        dims[0].dim_value = 1
    for out in model.graph.output:  # same rank, sizes unknown (OpenCV's importer needs a shape)
        for d in out.type.tensor_type.shape.dim:
            d.Clear()
    del model.graph.value_info[:]
    tmp = sized.with_suffix(".part")
    onnx.save(model, str(tmp))
    tmp.replace(sized)
    stamp.write_text(source + "\n")
    log(f"[{name}] input resized to 1x3x{h}x{w}: {sized.name}")
    return sized


def output_names(onnx_path: Path) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(str(onnx_path), load_external_data=False).graph.output]
