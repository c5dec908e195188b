"""Write the submission's config/ folder: each code path's compiled models, the weights once, models.json, pipeline.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from frvt_runtime.config_dir import (BUILD_FACTS, KERNELS, KERNELS_FILE, MANIFEST_FILE, MANIFEST_FORMAT,
                                     PIPELINE_FILE, WEIGHTS_FILE, model_file, sha256_of)

from ..config import Settings, runtime_dict
from .weights import content_key, read_weights, write_npz


def write_config_dir(settings: Settings, compiled: dict[str, dict], config_dir: Path) -> None:
    """compiled: build_models.compile_all's answer, path name -> {"cpu", "isa_class", "requires",
    "models": model name -> {"so": Path, "outputs": [...], and the build facts kept in models.json
    (BUILD_FACTS)}, and KERNELS -> {"so", "functions", "cpu", "isa_class"}}, widest path first."""
    config_dir.mkdir(parents=True, exist_ok=True)
    weights: dict[str, np.ndarray] = {}
    paths = {}
    for path, built in compiled.items():
        folder = config_dir / path
        folder.mkdir(exist_ok=True)
        entries = {}
        for name, info in built["models"].items():
            fname = KERNELS_FILE if name == KERNELS else model_file(name)
            shutil.copyfile(info["so"], folder / fname)
            entry = {"file": f"{path}/{fname}", "sha256": sha256_of(folder / fname)}
            if name == KERNELS:
                entry.update(functions=info["functions"], cpu=info["cpu"], isa_class=info["isa_class"])
            else:
                keys = []
                for array in read_weights(info["so"]):
                    keys.append(content_key(array))
                    weights.setdefault(keys[-1], array)
                entry.update(outputs=list(info["outputs"]), params=keys,
                             **{k: info.get(k, default) for k, default in BUILD_FACTS.items()})
            entries[name] = entry
        paths[path] = {"cpu": built["cpu"], "isa_class": built["isa_class"], "requires": built["requires"],
                       "models": entries}
    # Deflated: SFace's weights 20.0 -> 16.2 MB on disk, for ~90 ms more at initialize() (once,
    # before NIST forks); the tarball's gzip gains nothing from it and loses nothing.
    write_npz(config_dir / WEIGHTS_FILE, weights, compressed=True)
    manifest = {"format": MANIFEST_FORMAT, "order": list(compiled), "paths": paths,
                "weights": {"file": WEIGHTS_FILE, "sha256": sha256_of(config_dir / WEIGHTS_FILE),
                            "count": len(weights), "mb": round(sum(a.nbytes for a in weights.values()) / 1e6, 2)}}
    (config_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    (config_dir / PIPELINE_FILE).write_text(json.dumps(runtime_dict(settings), indent=1) + "\n")
    remove_unlisted(config_dir, manifest)


def remove_unlisted(config_dir: Path, manifest: dict) -> None:
    """Drop what an earlier build left that this one does not list (a detector size since dropped
    from the settings, a path of another target, the flat layout before paths): it would ship in
    the tarball, unlisted and unused."""
    listed = {e["file"] for p in manifest["paths"].values() for e in p["models"].values()}
    for stale in sorted(config_dir.glob("*.so")) + sorted(config_dir.glob("*/*.so")):
        if stale.relative_to(config_dir).as_posix() not in listed:
            stale.unlink()
    for folder in config_dir.iterdir():
        if folder.is_dir() and folder.name not in manifest["paths"] and not any(folder.iterdir()):
            folder.rmdir()
