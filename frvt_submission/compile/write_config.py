"""Write the submission's config/ folder: compiled models, models.json (hashes, build facts), pipeline.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from frvt_runtime.config_dir import (BUILD_FACTS, KERNELS, KERNELS_FILE, MANIFEST_FILE, PIPELINE_FILE, model_file,
                                     sha256_of)

from ..config import Settings, runtime_dict


def write_config_dir(settings: Settings, compiled: dict[str, dict], config_dir: Path) -> None:
    """compiled: model name -> {"so": Path, "outputs": [...], and the build facts kept in models.json
    (BUILD_FACTS: cpu, ISA class, tuned, records folder and class, unscheduled kernels, graph passes)}, and
    KERNELS -> {"so", "functions", "cpu", "isa_class"}: the resampling kernels."""
    config_dir.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, info in compiled.items():
        if name == KERNELS:
            continue
        fname = model_file(name)
        dst = config_dir / fname
        shutil.copyfile(info["so"], dst)
        manifest[name] = {"file": fname, "sha256": sha256_of(dst), "outputs": list(info["outputs"]),
                          **{k: info.get(k, default) for k, default in BUILD_FACTS.items()}}
    kernels = compiled[KERNELS]
    dst = config_dir / KERNELS_FILE
    shutil.copyfile(kernels["so"], dst)
    manifest[KERNELS] = {"file": KERNELS_FILE, "sha256": sha256_of(dst), "functions": kernels["functions"],
                         "cpu": kernels["cpu"], "isa_class": kernels["isa_class"]}
    (config_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    (config_dir / PIPELINE_FILE).write_text(json.dumps(runtime_dict(settings), indent=1) + "\n")
    # A model of an earlier build that this one has not (e.g. a detector size since dropped from the
    # settings) would ship in the tarball, unlisted and unused.
    listed = {entry["file"] for entry in manifest.values()}
    for stale in sorted(config_dir.glob("*.so")):
        if stale.name not in listed:
            stale.unlink()
