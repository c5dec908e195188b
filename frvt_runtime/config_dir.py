"""The submission's config/ folder as the library reads it (compile/write_config.py writes it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .config import load_runtime
from .errors import ConfigError

PIPELINE_FILE = "pipeline.json"
MANIFEST_FILE = "models.json"
# The models every config/ has; a detector compiled at smaller_sizes adds one entry per size,
# named by DetectorSpec.model_name (e.g. detector_320x320, in detector_320x320.so).
MODEL_FILES = {"detector": "detector.so", "recognizer": "recognizer.so"}
# The compiled resampling kernels (compile/resample_kernels.py). A config/ without them (written
# before they existed) resamples in numpy, to the same bytes, more slowly.
KERNELS = "resample"
KERNELS_FILE = "resample.so"
# What models.json says of how each model was built (key: value when unknown).
# tuned: every kernel scheduled by a record of this very model, or written out by hand
# (hand_scheduled: compile/dw_units.py) (compile/tvm_build).
BUILD_FACTS = {"cpu": "", "isa_class": None, "tuned": False, "records": "", "records_class": None,
               "kernels_without_records": 0, "unscheduled": [], "hand_scheduled": [], "graph_passes": []}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(config_dir: Path) -> dict:
    path = config_dir / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"missing {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable {path}: {exc}") from None
    if not isinstance(manifest, dict) or set(MODEL_FILES) - set(manifest):
        raise ConfigError(f"{path}: needs entries for {sorted(MODEL_FILES)}")
    return manifest


def model_entries(manifest: dict) -> dict:
    """The models' entries of a manifest (each with BUILD_FACTS), the detector's sizes included,
    without the kernels'."""
    return {name: entry for name, entry in manifest.items() if name != KERNELS}


def model_file(name: str) -> str:
    """The file in config/ of a compiled model (MODEL_FILES, or a detector size's)."""
    return MODEL_FILES.get(name, f"{name}.so")


def verified_model(config_dir: Path, entry: dict) -> Path:
    """A model file from config/, checked against its recorded SHA-256 (corruption = ConfigError)."""
    try:
        path = config_dir / entry["file"]
        expected = entry["sha256"]
    except (KeyError, TypeError):
        raise ConfigError(f"{config_dir / MANIFEST_FILE}: malformed model entry {entry!r}") from None
    if "/" in str(entry["file"]) or not path.is_file():
        raise ConfigError(f"missing model file {path}")
    try:
        actual = sha256_of(path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if actual != expected:
        raise ConfigError(f"{path}: SHA-256 is {actual}, manifest expects {expected}")
    return path


def config_kernels(config_dir: Path, manifest: dict, runtime_dir: Path | None):
    """config_dir's compiled resampling kernels (checked like a model), or None for a config/
    compiled before they existed: the pipeline then resamples in numpy."""
    from .resample_kernels import ResampleKernels

    if KERNELS not in manifest:
        return None
    return ResampleKernels(verified_model(config_dir, manifest[KERNELS]), runtime_dir)


def load_config_dir(pipeline_cls, config_dir: Path, runtime_dir: Path | None):
    """Build the submission pipeline (TVM runtime only) from config_dir, each model checked
    against the config by one run on a blank input (probe.check_models)."""
    from .detect import Detector
    from .embed import Recognizer
    from .engine import TvmModel
    from . import resample
    from .probe import check_models
    if not config_dir.is_dir():
        raise ConfigError(f"config directory not found: {config_dir}")
    settings = load_runtime(config_dir / PIPELINE_FILE)
    manifest = read_manifest(config_dir)
    det = settings.detector
    names = {size: det.model_name(size) for size in det.sizes()}
    missing = [n for n in names.values() if n not in manifest]
    if missing:
        raise ConfigError(f"{config_dir / MANIFEST_FILE}: no entry for {', '.join(missing)}, which pipeline.json's "
                          f"detector.smaller_sizes {[list(s) for s in det.smaller_sizes]} needs")

    def load(name):
        return TvmModel(verified_model(config_dir, manifest[name]), manifest[name]["outputs"], runtime_dir)

    detectors = {size: load(name) for size, name in names.items()}
    recognizer = load("recognizer")
    check_models(det, detectors, settings.recognizer, recognizer)
    resample.use_kernels(config_kernels(config_dir, manifest, runtime_dir))
    return pipeline_cls(settings, Detector(det, detectors, settings.pipeline.downscale),
                        Recognizer(settings.recognizer, recognizer))
