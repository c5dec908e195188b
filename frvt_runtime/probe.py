"""initialize()'s self-check: each compiled model runs once on a blank input and must match the config."""

from __future__ import annotations

from collections import Counter

import numpy as np

from .config import DetectorSpec, ModelSpec, RecognizerSpec
from .decoders import decoder_for
from .engine import TvmModel
from .errors import ConfigError


def _run_blank(name: str, spec: ModelSpec, model: TvmModel) -> list[np.ndarray]:
    """The model's outputs, in its own order, for a black image of the configured input size."""
    w, h = spec.input_size
    try:
        outs = model.run(np.zeros((h, w, 3), np.uint8))
    except MemoryError:
        raise  # not a config defect: the service maps it to ReturnCode::MemoryError
    except Exception as exc:  # the VM rejects an input of the wrong shape with its own error type
        raise ConfigError(f"{name} model {model.path.name} fails on a blank {w}x{h} image ({name}.input_size in "
                          f"pipeline.json): {exc}") from None
    names = model.output_names
    if len(outs) != len(names):
        raise ConfigError(f"{name}.outputs in models.json lists {len(names)} name(s) {names} but the model "
                          f"returns {len(outs)} output(s)")
    twice = sorted(n for n, k in Counter(names).items() if k > 1)
    if twice:
        raise ConfigError(f"{name}.outputs in models.json names {', '.join(twice)} more than once")
    return outs


def check_detector(spec: DetectorSpec, model: TvmModel) -> None:
    """Every output the detector's decoder (its kind) reads exists and holds the values its settings give."""
    w, h = spec.input_size
    bad = [s for s in spec.strides if not isinstance(s, int) or not 0 < s <= min(w, h)]
    if bad or not spec.strides:
        raise ConfigError(f"detector.strides {list(spec.strides)} in pipeline.json: each must be a positive "
                          f"integer no larger than the input ({w}x{h})")
    outs = dict(zip(model.output_names, _run_blank("detector", spec, model)))
    decoder_for(spec.kind).check_outputs(outs, spec, (w, h))


def check_recognizer(spec: RecognizerSpec, model: TvmModel) -> None:
    """The first output (the one Recognizer.embed_aligned reads) holds embedding_size values."""
    got = _run_blank("recognizer", spec, model)[0].size
    if got != spec.embedding_size:
        raise ConfigError(f"recognizer.embedding_size is {spec.embedding_size} in pipeline.json but the model "
                          f"outputs {got} values")


def check_models(detector_spec: DetectorSpec, detectors: dict[tuple[int, int], TvmModel],
                 recognizer_spec: RecognizerSpec, recognizer: TvmModel) -> None:
    """Raise ConfigError naming the field where a model and the config disagree (else every
    later call would fail, as UnknownError, with no word of the config). detectors: the
    detector's model at each of its input sizes."""
    for size, model in detectors.items():
        check_detector(detector_spec.at_size(size), model)
    check_recognizer(recognizer_spec, recognizer)
