"""Detector decoder families by `kind`: each module turns its family's outputs into faces, checks them, owns its settings.

A decoder module provides:
- SETTINGS: the [detector] keys it reads beyond the shared ones (another family's keys are refused);
- check_settings(spec): ConfigError for a value of those settings it cannot decode with;
- check_outputs(outputs, spec, size): ConfigError when a model's outputs (name -> array, for one
  input of size (w, h)) are not what decode reads;
- decode(outputs, spec, size, threshold) -> (boxes Nx4 xywh, scores N, landmarks Nx5x2) in
  detector-input pixels, landmarks in Face.landmarks' order (image-left eye first).
A new family is one new module here, listed in DECODERS.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import ConfigError
from . import retinaface, yunet

DECODERS: dict[str, ModuleType] = {"retinaface": retinaface, "yunet": yunet}


def decoder_for(kind: str) -> ModuleType:
    """The decoder module of a [detector] kind."""
    try:
        return DECODERS[kind]
    except KeyError:
        raise ConfigError(f"[detector] kind {kind!r} is not supported (known: {', '.join(sorted(DECODERS))})") \
            from None


def family_settings() -> set[str]:
    """Every decoder-specific [detector] key, whichever family reads it."""
    return {key for module in DECODERS.values() for key in module.SETTINGS}
