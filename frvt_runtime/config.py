"""The runtime's settings: config/pipeline.json parsed strictly into frozen specs, and the checks they share."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .decoders import decoder_for, family_settings
from .errors import ConfigError

RUNTIME_FORMAT = 1  # version of config/pipeline.json
# Keys a format-1 pipeline.json written by earlier builds still carries in its model sections:
# build-time facts the library never read. They are dropped unread, so such a config/ still loads.
_BUILD_TIME_KEYS = ("layout", "sha256")


@dataclass(frozen=True)
class ModelSpec:
    """One compiled network as the pipeline feeds it: its input size and pixel preparation."""

    name: str
    input_size: tuple[int, int]  # width, height
    colour: str = "BGR"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class DetectorSpec(ModelSpec):
    kind: str = "yunet"  # the decoder family (decoders/): which of the settings below it reads
    strides: tuple[int, ...] = (8, 16, 32)
    min_sizes: tuple[tuple[float, ...], ...] = ()  # retinaface: prior sides (px) per stride
    variances: tuple[float, ...] = ()              # retinaface: centre and size offset scales
    score_threshold: float = 0.6
    fallback_threshold: float = 0.3
    nms_threshold: float = 0.3
    top_k: int = 50
    # Further input sizes the detector is compiled at, each within input_size: an image (or a
    # refinement region) runs at the smallest size that holds it, since a fully convolutional
    # detector costs in proportion to its input area.
    smaller_sizes: tuple[tuple[int, int], ...] = ()

    def sizes(self) -> tuple[tuple[int, int], ...]:
        """Every compiled input size (w, h), smallest area first; input_size is the last."""
        return tuple(sorted(self.smaller_sizes, key=lambda s: (s[0] * s[1], s))) + (self.input_size,)

    def model_name(self, size: tuple[int, int]) -> str:
        """The compiled model's name at one size: its file in config/ and its tuning records' folder."""
        return self.name if tuple(size) == tuple(self.input_size) else f"{self.name}_{size[0]}x{size[1]}"

    def at_size(self, size: tuple[int, int]) -> "DetectorSpec":
        """This detector compiled at one input size, as its own model."""
        return dataclasses.replace(self, name=self.model_name(size), input_size=tuple(size), smaller_sizes=())


@dataclass(frozen=True)
class RecognizerSpec(ModelSpec):
    embedding_size: int = 128
    same_threshold: float = 0.363
    alignment_template: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class PipelineSpec:
    face_selection: str = "central"
    downscale: str = "area"
    try_rotations: bool = True
    rotation_score: float = 0.9
    small_face_px: int = 120       # upright faces smaller than this (box side, px) are detected again (0 = off)
    small_face_zoom_px: int = 160  # on their region enlarged so the face is this big
    # Which compiled code path runs (code_paths.py): "auto" picks the widest one this CPU has the
    # instructions for; a path's name (e.g. "avx2") forces it, for tests and validation.
    code_path: str = "auto"


@dataclass(frozen=True)
class RuntimeSettings:
    """Everything the library runs with: config/pipeline.json."""

    detector: DetectorSpec | None = None
    recognizer: RecognizerSpec | None = None
    pipeline: PipelineSpec = field(default_factory=PipelineSpec)


def _tupleize(value):
    if isinstance(value, list):
        return tuple(_tupleize(v) for v in value)
    return value


def _number(v) -> bool:
    """A finite int or float; bool is an int in Python, but `true` is never a meaningful number here."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", tuple: "a list"}


def _unknown(names, known) -> str:
    """Unknown names, each with the known one it most likely misspells, if any."""
    return ", ".join(f"{n} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(n, known, n=1))
                     else n for n in names)


def check_sections(raw: dict, known) -> None:
    """ConfigError naming each section of raw that is not one of known."""
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"unknown section(s): {_unknown(unknown, sorted(known))}")


def build_section(cls, section: str, raw: dict, **extra):
    """Make one dataclass from a TOML/JSON table, rejecting unknown or mistyped keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"[{section}] must be a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted((set(raw) - set(known)) | (set(raw) & set(extra)))  # extra: set by the section, not by users
    if unknown:
        raise ConfigError(f"[{section}] unknown key(s): {_unknown(unknown, sorted(set(known) - set(extra)))}")
    values = {k: _tupleize(v) for k, v in raw.items()}
    values.update(extra)
    missing = [k for k, f in known.items() if k not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"[{section}] {', '.join(missing)} is required")
    obj = cls(**values)
    for f in dataclasses.fields(cls):
        v = getattr(obj, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if default is None:
            continue
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            ok = isinstance(v, type(default))
        else:  # a number: an int may stand for a float, never a bool, inf or nan
            ok = _number(v) and (isinstance(v, int) or isinstance(default, float))
        if not ok:
            raise ConfigError(f"[{section}] {f.name} must be {_KINDS[type(default)]}, got {v!r}")
    return obj


def _check_model(spec: ModelSpec, section: str) -> None:
    if not isinstance(spec.input_size, tuple) or len(spec.input_size) != 2 or not all(map(_count, spec.input_size)):
        raise ConfigError(f"[{section}] input_size must be [width, height] positive integers")
    if spec.colour not in ("BGR", "RGB"):
        raise ConfigError(f"[{section}] colour must be BGR or RGB, got {spec.colour!r}")
    for key, values in (("mean", spec.mean), ("scale", spec.scale)):
        if len(values) != 3 or not all(map(_number, values)):
            raise ConfigError(f"[{section}] {key} needs three numbers (one per channel), got {list(values)}")
    if 0 in spec.scale:  # pixel' = (pixel - mean) * scale: a zero erases the channel
        raise ConfigError(f"[{section}] scale must not be 0, got {list(spec.scale)}")


def _check_smaller_sizes(d: DetectorSpec) -> None:
    """Each smaller size: [w, h] within input_size, not equal to it, in whole steps of the largest
    stride (the decoder's grid), none given twice."""
    step = max(d.strides)
    for size in d.smaller_sizes:
        if not isinstance(size, tuple) or len(size) != 2 or not all(map(_count, size)):
            raise ConfigError(f"[detector] smaller_sizes must be [width, height] pairs of positive integers, "
                              f"got {list(d.smaller_sizes)}")
        if size[0] > d.input_size[0] or size[1] > d.input_size[1] or size == d.input_size:
            raise ConfigError(f"[detector] smaller size {list(size)} must fit within input_size "
                              f"{list(d.input_size)} and differ from it")
        if size[0] % step or size[1] % step:
            raise ConfigError(f"[detector] smaller size {list(size)} must be a multiple of the largest stride "
                              f"({step}) in both directions")
    if len(set(d.smaller_sizes)) != len(d.smaller_sizes):
        raise ConfigError(f"[detector] smaller_sizes lists a size twice: {list(d.smaller_sizes)}")


def _check_decoder_settings(d: DetectorSpec) -> None:
    """The kind names a decoder; it gets the settings it reads, and no other family's."""
    decoder = decoder_for(d.kind)
    defaults = DetectorSpec(name="", input_size=(1, 1))
    foreign = sorted(k for k in family_settings() - set(decoder.SETTINGS) if getattr(d, k) != getattr(defaults, k))
    if foreign:
        raise ConfigError(f"[detector] {', '.join(foreign)}: not read by kind {d.kind!r} (it reads "
                          f"{', '.join(decoder.SETTINGS)}); remove them, or set the kind that reads them")
    decoder.check_settings(d)


def check_runtime(s: RuntimeSettings) -> None:
    """ConfigError for the first setting the pipeline cannot run with (load_runtime's checks; the
    build runs them too, before it writes pipeline.json)."""
    for name, spec in (("detector", s.detector), ("recognizer", s.recognizer)):
        if spec is None:
            raise ConfigError(f"[{name}] section is missing")
        _check_model(spec, name)
    d, r, p = s.detector, s.recognizer, s.pipeline
    _check_decoder_settings(d)
    if not (0 < d.fallback_threshold <= d.score_threshold < 1):
        raise ConfigError("[detector] need 0 < fallback_threshold <= score_threshold < 1")
    if not 0 <= d.nms_threshold <= 1:  # an IoU: boxes overlapping the kept one by more are dropped
        raise ConfigError(f"[detector] nms_threshold must be in [0, 1] (an IoU), got {d.nms_threshold}")
    if not _count(d.top_k):
        raise ConfigError(f"[detector] top_k must be a positive integer, got {d.top_k}")
    if not d.strides or not all(_count(v) and v <= min(d.input_size) for v in d.strides):
        raise ConfigError(f"[detector] strides must be one or more positive integers no larger than the "
                          f"input_size, got {list(d.strides)}")
    _check_smaller_sizes(d)
    if len(r.alignment_template) != 5 or any(
        not isinstance(p_, tuple) or len(p_) != 2 or not all(map(_number, p_)) for p_ in r.alignment_template
    ):
        raise ConfigError("[recognizer] alignment_template must be five [x, y] points")
    if not _count(r.embedding_size):
        raise ConfigError("[recognizer] embedding_size must be a positive integer")
    if not -1 <= r.same_threshold <= 1:
        raise ConfigError(f"[recognizer] same_threshold must be in [-1, 1] (a cosine), got {r.same_threshold}")
    if p.face_selection not in ("central", "score"):
        raise ConfigError("[pipeline] face_selection must be 'central' or 'score'")
    if not 0 < p.rotation_score <= 1:
        raise ConfigError("[pipeline] rotation_score must be in (0, 1]")
    if p.small_face_px < 0 or p.small_face_zoom_px < 0 or (p.small_face_px and p.small_face_zoom_px <= p.small_face_px // 2):
        raise ConfigError("[pipeline] small_face_px and small_face_zoom_px must be >= 0, the zoom target "
                          "above half the size it refines (0 turns the refinement off)")
    if not isinstance(p.code_path, str) or not p.code_path:
        raise ConfigError("[pipeline] code_path must be 'auto' or the name of a compiled path (e.g. 'avx2')")
    if p.downscale not in ("area", "linear"):
        raise ConfigError("[pipeline] downscale must be 'area' or 'linear'")


def _model_section(raw: dict, name: str):
    """A model section of pipeline.json without the build-time keys earlier builds wrote into it."""
    section = raw.get(name)
    if not isinstance(section, dict):
        return section  # build_section names what is wrong with it
    return {k: v for k, v in section.items() if k not in _BUILD_TIME_KEYS}


def runtime_from_dict(raw: dict) -> RuntimeSettings:
    """The settings of pipeline.json's sections (its "format" already checked and removed)."""
    check_sections(raw, ("detector", "recognizer", "pipeline"))
    s = RuntimeSettings(
        detector=build_section(DetectorSpec, "detector", _model_section(raw, "detector"), name="detector")
        if "detector" in raw else None,
        recognizer=build_section(RecognizerSpec, "recognizer", _model_section(raw, "recognizer"),
                                 name="recognizer") if "recognizer" in raw else None,
        pipeline=build_section(PipelineSpec, "pipeline", raw.get("pipeline", {})),
    )
    check_runtime(s)
    return s


def load_runtime(path: Path) -> RuntimeSettings:
    """Read config/pipeline.json as written by the build; any defect is a ConfigError."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"missing {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable {path}: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != RUNTIME_FORMAT:
        raise ConfigError(f"{path}: not a pipeline config of format {RUNTIME_FORMAT}")
    raw = dict(raw)
    raw.pop("format")
    return runtime_from_dict(raw)
