"""The build's settings (frvt.toml): which file, its typed frozen sections, their checks, and what goes to config/."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from frvt_runtime.config import (RUNTIME_FORMAT, DetectorSpec, ModelSpec, PipelineSpec, RecognizerSpec,
                                 build_section, check_runtime, check_sections)
from frvt_runtime.decoders import decoder_for, family_settings
from frvt_runtime.errors import ConfigError

from . import paths
from .models.converters import converter

LOCAL_NAME = "frvt.toml"  # looked for in the working folder
LAYOUTS = ("NCHW", "NHWC")  # conv layouts a model can be compiled with


@dataclass(frozen=True)
class SubmissionSpec:
    company: str = "oneml"
    sequence: str = "001"
    target: str = "nist"
    budget_template_ms: float = 1000.0
    budget_match_ms: float = 0.1
    max_failure_to_enrol: float = 0.05  # of the validation images that hold a face
    gpg_key: str = ""
    gpg_recipient: str = ""

    @property
    def library_name(self) -> str:
        return f"libfrvt_11_{self.company}_{self.sequence}.so"


@dataclass(frozen=True)
class ModelSettings(ModelSpec):
    """A model section of frvt.toml: the runtime's spec, and what the build alone knows of the model:
    where its ONNX comes from (wheel + member, or a local path; pinned by sha256) and the conv
    layout TVM compiles it with. runtime_dict leaves these out of config/."""

    layout: str = "NCHW"  # compile/layout.py
    wheel: str = ""
    member: str = ""
    member_encoding: str = ""  # "" (the member is the model) or "python-bytes:NAME" (models/sources.py)
    path: str = ""
    sha256: str = ""
    convert: str = ""  # models/converters.py: the source (wheel member or path) is converted to ONNX
    int8: bool = False  # convs in int8, with quantization/<model>.json's calibration (models/quantize.py)


# Bases in this order put the fields every model has (ModelSettings') before the kind's own, the
# order `frvt config` prints them in (dataclasses collect fields from the last base first).
@dataclass(frozen=True)
class DetectorSettings(DetectorSpec, ModelSettings):
    """[detector]."""


@dataclass(frozen=True)
class RecognizerSettings(RecognizerSpec, ModelSettings):
    """[recognizer]."""


@dataclass(frozen=True)
class Settings:
    """frvt.toml: the submission's facts, both models with their sources, the pipeline."""

    submission: SubmissionSpec = field(default_factory=SubmissionSpec)
    detector: DetectorSettings | None = None
    recognizer: RecognizerSettings | None = None
    pipeline: PipelineSpec = field(default_factory=PipelineSpec)


def _check_build(spec: ModelSettings, section: str) -> None:
    if spec.layout not in LAYOUTS:
        raise ConfigError(f"[{section}] layout must be one of {', '.join(LAYOUTS)}, got {spec.layout!r}")
    if spec.path and (spec.wheel or spec.member):  # fetch would silently use path alone
        raise ConfigError(f"[{section}] has both path and wheel/member: remove path to use the wheel, "
                          "or wheel and member to use the local file")
    if spec.member_encoding and not (spec.member and re.fullmatch(r"python-bytes:[A-Za-z_][A-Za-z0-9_]*",
                                                                  spec.member_encoding)):
        raise ConfigError(f"[{section}] member_encoding must be \"python-bytes:NAME\" (the member is a Python file "
                          f"whose NAME = b'...' holds the model) beside a wheel member, got {spec.member_encoding!r}")
    if spec.convert:  # an unknown converter is refused here, before anything is fetched
        try:
            converter(spec.convert)
        except ConfigError as exc:
            raise ConfigError(f"[{section}] convert: {exc}") from None
    if spec.sha256 and not re.fullmatch(r"[0-9a-f]{64}", spec.sha256):
        raise ConfigError(f"[{section}] sha256 must be 64 lowercase hex digits")
    if not isinstance(spec.int8, bool):
        raise ConfigError(f"[{section}] int8 must be true or false, got {spec.int8!r}")
    if spec.int8 and spec.layout != "NHWC":  # the dot-product kernels read 4 channels at a time
        raise ConfigError(f"[{section}] int8 = true needs layout = \"NHWC\" (got {spec.layout!r})")


def _validate(s: Settings) -> Settings:
    sub = s.submission
    if not re.fullmatch(r"[a-z][a-z0-9]*", sub.company):
        raise ConfigError(f"[submission] company must be one lowercase word, got {sub.company!r}")
    if not re.fullmatch(r"[0-9]{3}", sub.sequence):
        raise ConfigError(f"[submission] sequence must be three digits, got {sub.sequence!r}")
    if sub.budget_template_ms <= 0 or sub.budget_match_ms <= 0:
        raise ConfigError("[submission] budgets must be positive")
    if not 0 <= sub.max_failure_to_enrol <= 1:
        raise ConfigError(f"[submission] max_failure_to_enrol must be a fraction in [0, 1], got {sub.max_failure_to_enrol}")
    # package signs with gpg_key and encrypts for gpg_recipient: NIST only takes encrypted archives,
    # so a key without a recipient would fail only after the archive is built
    if sub.gpg_key and not sub.gpg_recipient:
        raise ConfigError("[submission] gpg_key is set but gpg_recipient is empty: set gpg_recipient to "
                          "NIST's public key id (from NIST's FRTE page), or empty gpg_key to skip the .gpg step")
    check_runtime(s)  # what pipeline.json will be checked for: refused here, before hours of compiling
    _check_build(s.detector, "detector")
    _check_build(s.recognizer, "recognizer")
    if s.detector.int8:  # (compile asked for a calibration that `calibrate`, the recognizer's, never makes)
        raise ConfigError("[detector] int8 = true: int8 is the recognizer's (`frvt calibrate` calibrates its convs "
                          "on aligned faces); the detector stays fp32")
    return s


def settings_from_dict(raw: dict) -> Settings:
    # "format" is pipeline.json's version key; a settings file may carry one, unused.
    check_sections(raw, ("submission", "detector", "recognizer", "pipeline", "format"))
    return _validate(
        Settings(
            submission=build_section(SubmissionSpec, "submission", raw.get("submission", {})),
            detector=build_section(DetectorSettings, "detector", raw.get("detector", {}), name="detector")
            if "detector" in raw else None,
            recognizer=build_section(RecognizerSettings, "recognizer", raw.get("recognizer", {}), name="recognizer")
            if "recognizer" in raw else None,
            pipeline=build_section(PipelineSpec, "pipeline", raw.get("pipeline", {})),
        )
    )


def settings_path(given: str | Path | None = None) -> Path:
    """The settings file in force, absolute: `given` (--settings) if any; else ./frvt.toml in the
    working folder if there is one; else the project's own frvt.toml."""
    if given:
        return Path(given).resolve()
    local = Path.cwd() / LOCAL_NAME
    return local.resolve() if local.is_file() else paths.SETTINGS_FILE


def settings_line(path: str | Path) -> str:
    """How a command names the settings file it read (its first line of output)."""
    return f"settings: {path}"


def outputs_line(outputs: paths.Outputs) -> str:
    """How a command names where its outputs go, when not the project root (its second line)."""
    return f"outputs: {outputs.root} (this settings file's own: config/, lib/, doc/, validation/, dist/, build/)"


def load_settings(path: str | Path) -> Settings:
    """The settings in `path`, each model's relative `path` made absolute against the file's folder:
    a settings file names its models where it lies, whatever folder a command runs from."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"settings file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"settings file {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"settings file {path} is not UTF-8 text (TOML must be): {exc.reason} "
                          f"at byte {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    s = settings_from_dict(raw)
    folder = path.resolve().parent

    def anchored(spec):
        if not spec.path or Path(spec.path).is_absolute():
            return spec
        return dataclasses.replace(spec, path=str(folder / spec.path))

    return dataclasses.replace(s, detector=anchored(s.detector), recognizer=anchored(s.recognizer))


def runtime_dict(s: Settings) -> dict:
    """config/pipeline.json: each model's fields of the runtime's spec (no source, no layout, no
    name: the section says it), the pipeline; nothing of [submission]."""
    def runtime_fields(spec, runtime_cls, unread=()) -> dict:
        values = dataclasses.asdict(spec)
        return {f.name: values[f.name] for f in dataclasses.fields(runtime_cls) if f.name not in ("name", *unread)}

    # Other decoder families' settings stay out: they keep their defaults, which the kind never reads.
    other_families = family_settings() - set(decoder_for(s.detector.kind).SETTINGS)

    return {
        "format": RUNTIME_FORMAT,
        "detector": runtime_fields(s.detector, DetectorSpec, other_families),
        "recognizer": runtime_fields(s.recognizer, RecognizerSpec),
        "pipeline": dataclasses.asdict(s.pipeline),
    }


def describe(s: Settings) -> str:
    """A short, printable summary (printed before long work)."""
    lines = [f"submission: {s.submission.library_name} target={s.submission.target}"]
    for spec in (s.detector, s.recognizer):
        src = spec.path or f"{spec.wheel}:{spec.member}"
        sizes = spec.sizes() if isinstance(spec, DetectorSpec) else (spec.input_size,)
        lines.append(f"{spec.name}: {src} {', '.join(f'{w}x{h}' for w, h in sizes)} {spec.colour}")
    lines.append(f"pipeline: {dataclasses.asdict(s.pipeline)}")
    return "\n".join(lines)
