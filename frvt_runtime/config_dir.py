"""The submission's config/ folder as the library reads it (compile/write_config.py writes it).

config/ holds one or more code paths, each the compiled models for one instruction-set class in
a folder of its own (e.g. avx512/, avx2/), and the models' weights once, in weights.npz, keyed by
content: each path's code packs them at load time into its own kernels' layout.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .code_paths import AUTO, choose_path
from .config import load_runtime
from .errors import ConfigError

PIPELINE_FILE = "pipeline.json"
MANIFEST_FILE = "models.json"
MANIFEST_FORMAT = 2  # 1: one flat set of models (before code paths); refused, with what to do
WEIGHTS_FILE = "weights.npz"
# The models every path has; a detector compiled at smaller_sizes adds one entry per size,
# named by DetectorSpec.model_name (e.g. detector_320x320, in detector_320x320.so).
MODEL_FILES = {"detector": "detector.so", "recognizer": "recognizer.so"}
# The compiled resampling kernels (compile/resample_kernels.py), one per path.
KERNELS = "resample"
KERNELS_FILE = "resample.so"
# What models.json says of how each model was built (key: value when unknown).
# tuned: every kernel scheduled by a record of this very model, or written out by hand
# (hand_scheduled: compile/dw_units.py) (compile/tvm_build).
BUILD_FACTS = {"cpu": "", "isa_class": None, "tuned": False, "records": "", "records_class": None,
               "kernels_without_records": 0, "unscheduled": [], "hand_scheduled": [], "graph_passes": [],
               "int8_convs": 0}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(config_dir: Path) -> dict:
    """models.json, checked for the shape the loader relies on."""
    path = config_dir / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"missing {path}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable {path}: {exc}") from None
    written = manifest.get("format", 1) if isinstance(manifest, dict) else "?"
    if written != MANIFEST_FORMAT:
        raise ConfigError(f"{path}: written by an earlier build (format {written}, this library reads "
                          f"{MANIFEST_FORMAT}): compile again")
    paths, order = manifest.get("paths"), manifest.get("order")
    if not isinstance(paths, dict) or not isinstance(order, list) or not order or sorted(order) != sorted(paths):
        raise ConfigError(f"{path}: needs \"paths\" and an \"order\" listing each of them once")
    for name in order:
        models = paths[name].get("models") if isinstance(paths[name], dict) else None
        if not isinstance(models, dict) or set(MODEL_FILES) - set(models):
            raise ConfigError(f"{path}: path {name!r} needs entries for {sorted(MODEL_FILES)}")
    return manifest


def path_names(manifest: dict) -> list[str]:
    """The code paths of a manifest, widest first (the order the library tries them in)."""
    return list(manifest["order"])


def path_entries(manifest: dict, path: str) -> dict:
    """Every compiled file of one path (the models and the resampling kernels), by name."""
    return manifest["paths"][path]["models"]


def model_entries(manifest: dict, path: str | None = None) -> dict:
    """One path's models' entries (each with BUILD_FACTS), the detector's sizes included, without the
    kernels'; path None: the first (widest) path."""
    entries = path_entries(manifest, path or path_names(manifest)[0])
    return {name: entry for name, entry in entries.items() if name != KERNELS}


def model_file(name: str) -> str:
    """The file name of a compiled model within its path's folder (MODEL_FILES, or a detector size's)."""
    return MODEL_FILES.get(name, f"{name}.so")


def verified_model(config_dir: Path, entry: dict) -> Path:
    """A model file from config/, checked against its recorded SHA-256 (corruption = ConfigError)."""
    try:
        path = config_dir / entry["file"]
        expected = entry["sha256"]
    except (KeyError, TypeError):
        raise ConfigError(f"{config_dir / MANIFEST_FILE}: malformed model entry {entry!r}") from None
    parts = str(entry["file"]).split("/")
    if len(parts) > 2 or any(p in ("", ".", "..") for p in parts) or not path.is_file():
        raise ConfigError(f"missing model file {path}")  # (never a file outside config/)
    try:
        actual = sha256_of(path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if actual != expected:
        raise ConfigError(f"{path}: SHA-256 is {actual}, manifest expects {expected}")
    return path


def load_weights(config_dir: Path, manifest: dict) -> dict[str, np.ndarray]:
    """weights.npz, checked against its recorded SHA-256: content key -> array (no pickled objects)."""
    entry = manifest.get("weights")
    if not isinstance(entry, dict):
        raise ConfigError(f"{config_dir / MANIFEST_FILE}: no \"weights\" entry")
    path = verified_model(config_dir, entry)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable {path}: {exc}") from None


def model_params(weights: dict[str, np.ndarray], entry: dict, name: str) -> list[np.ndarray]:
    """A model's weights in its main function's order."""
    try:
        return [weights[key] for key in entry.get("params", [])]
    except KeyError as exc:
        raise ConfigError(f"{MANIFEST_FILE}: {name} needs weight {exc.args[0]}, which {WEIGHTS_FILE} lacks") from None


def config_kernels(config_dir: Path, entries: dict, runtime_dir: Path | None):
    """A path's compiled resampling kernels (checked like a model), or None for a path without
    them: the pipeline then resamples in numpy, to the same bytes, more slowly."""
    from .resample_kernels import ResampleKernels

    if KERNELS not in entries:
        return None
    return ResampleKernels(verified_model(config_dir, entries[KERNELS]), runtime_dir)


def load_models(config_dir: Path, manifest: dict, path: str, names: list[str], runtime_dir: Path | None) -> dict:
    """name -> TvmModel for the named models of one path, each with its weights."""
    from .engine import TvmModel

    entries = path_entries(manifest, path)
    missing = [n for n in names if n not in entries]
    if missing:
        raise ConfigError(f"{config_dir / MANIFEST_FILE}: path {path!r} has no {', '.join(missing)}")
    weights = load_weights(config_dir, manifest)
    return {n: TvmModel(verified_model(config_dir, entries[n]), entries[n]["outputs"], runtime_dir,
                        model_params(weights, entries[n], n)) for n in names}


def running_path(config_dir: Path, manifest: dict | None = None, forced: str | None = None) -> str:
    """The code path the library runs from config_dir on this CPU (pipeline.json's code_path, or
    forced, "auto" = by the CPU's features)."""
    manifest = manifest or read_manifest(config_dir)
    if forced is None:  # (the library itself needs pipeline.json; a tool reading models.json alone, not)
        pipeline = config_dir / PIPELINE_FILE
        forced = load_runtime(pipeline).pipeline.code_path if pipeline.is_file() else AUTO
    return choose_path(manifest["paths"], path_names(manifest), forced)


def load_config_dir(pipeline_cls, config_dir: Path, runtime_dir: Path | None):
    """Build the submission pipeline (TVM runtime only) from config_dir's code path for this CPU,
    each model checked against the config by one run on a blank input (probe.check_models)."""
    from .detect import Detector
    from .embed import Recognizer
    from . import resample
    from .probe import check_models
    if not config_dir.is_dir():
        raise ConfigError(f"config directory not found: {config_dir}")
    settings = load_runtime(config_dir / PIPELINE_FILE)
    manifest = read_manifest(config_dir)
    path = running_path(config_dir, manifest, settings.pipeline.code_path)
    det = settings.detector
    names = {size: det.model_name(size) for size in det.sizes()}
    missing = [n for n in names.values() if n not in path_entries(manifest, path)]
    if missing:
        raise ConfigError(f"{config_dir / MANIFEST_FILE}: no entry for {', '.join(missing)}, which pipeline.json's "
                          f"detector.smaller_sizes {[list(s) for s in det.smaller_sizes]} needs")
    models = load_models(config_dir, manifest, path, [*names.values(), "recognizer"], runtime_dir)
    detectors = {size: models[name] for size, name in names.items()}
    recognizer = models["recognizer"]
    check_models(det, detectors, settings.recognizer, recognizer)
    resample.use_kernels(config_kernels(config_dir, path_entries(manifest, path), runtime_dir))
    return pipeline_cls(settings, Detector(det, detectors, settings.pipeline.downscale),
                        Recognizer(settings.recognizer, recognizer))
