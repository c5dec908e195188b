"""Model files that are not ONNX: the converters a `convert` setting names, and the input facts a converted model states."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from frvt_runtime.errors import ConfigError

from . import dlib_resnet

# convert = "<name>": the module whose convert(bytes, name) -> ONNX bytes reads the source file;
# its CONVERTER_VERSION goes into the cached conversion's stamp.
CONVERTERS = {"dlib_resnet": dlib_resnet}


def converter(name: str):
    try:
        return CONVERTERS[name]
    except KeyError:
        raise ConfigError(f"unknown converter {name!r}: one of {', '.join(sorted(CONVERTERS))}, "
                          "or remove `convert` for a file that is ONNX already") from None


def converted(source: Path, name: str, stamp_text: str) -> Path:
    """source converted to ONNX beside it (<stem>.onnx), made again only when its stamp (source's
    origin and hash, the converter's version and code) changes."""
    module = converter(name)
    out = source.with_suffix(".onnx")
    stamp = out.with_suffix(".converted-from")
    text = f"{stamp_text} {module.CONVERTER_VERSION} code:{_code_digest()}\n"
    if out.is_file() and stamp.is_file() and stamp.read_text() == text:
        return out
    data = module.convert(source.read_bytes(), source.name)
    tmp = out.with_suffix(".part")
    tmp.write_bytes(data)
    stamp.unlink(missing_ok=True)
    tmp.replace(out)
    stamp.write_text(text)
    return out


def _code_digest() -> str:
    """SHA-256 over this folder's modules (the converters and their readers): a changed converter
    converts again, without relying on a version bump."""
    digest = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def check_input_facts(spec, onnx_path: Path) -> None:
    """A model that states its input (colour, size, mean, scale in its metadata, as converted
    models do) must be given that input by the settings: a wrong mean is a silently worse
    recognizer, so it is refused with the values to set."""
    import onnx

    facts = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    wanted = {
        "input_colour": (facts.get("input_colour"), spec.colour, lambda v: v),
        "input_size": (facts.get("input_size"), list(spec.input_size), lambda v: [int(x) for x in v.split(",")]),
        "input_mean": (facts.get("input_mean"), list(spec.mean), lambda v: [float(x) for x in v.split(",")]),
        "input_scale": (facts.get("input_scale"), list(spec.scale), lambda v: [float(x) for x in v.split(",")]),
    }
    for key, (stated, given, parse) in wanted.items():
        if stated is None:
            continue
        value = parse(stated)
        same = value == given if isinstance(value, str) else np.array_equal(
            np.float32(value), np.float32(given))  # the compiled model applies them in float32
        if not same:
            setting = key.removeprefix("input_")
            raise ConfigError(f"[{spec.name}] {setting} = {json.dumps(given)}, but {onnx_path.name} takes "
                              f"{json.dumps(value)} (its metadata {key}): set [{spec.name}] {setting} = "
                              f"{json.dumps(value)}")
