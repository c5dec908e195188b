"""The submission's doc/ folder: version.txt describing exactly what was built."""

from __future__ import annotations

import subprocess
from pathlib import Path

from . import __version__, paths
from .config import Settings
from .nist_headers import interface_versions
from frvt_runtime.config_dir import KERNELS, model_entries, read_manifest


def _git_revision() -> str:
    """The commit built from, with "-dirty" when tracked files differ from it (the build may
    then hold changes no commit has)."""
    git = ["git", "-C", str(paths.ROOT)]
    try:
        out = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        rev = out.stdout.strip()
        if not rev:
            return "unknown"
        diff = subprocess.run(git + ["diff", "--quiet", "HEAD", "--"], capture_output=True, timeout=30)
        return rev + ("-dirty" if diff.returncode == 1 else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def tuning_summary(entry: dict) -> str:
    """One line on how a model's kernels were scheduled, from its models.json entry."""
    records = entry.get("records")
    text = f"tuned {bool(entry.get('tuned'))}"
    if records:
        text += f" (records {records}, class {entry.get('records_class')})"
    missing = entry.get("unscheduled") or []
    if records and missing:
        text += f"; {len(missing)} kernel(s) without records: {', '.join(missing)}"
    elif records and not entry.get("tuned"):
        text += "; the records were tuned for another model"
    hand = entry.get("hand_scheduled") or []
    if hand:
        text += f"; {len(hand)} kernel(s) scheduled by hand"
    return text + f"; graph passes {', '.join(entry.get('graph_passes') or []) or 'none'}"


def write_version_file(settings: Settings, config_dir: Path, doc_dir: Path) -> Path:
    manifest = read_manifest(config_dir)
    sub = settings.submission
    versions = interface_versions()
    lines = [f"{sub.library_name} (frvt-submission {__version__}, git {_git_revision()})",
             f"FRVT structs {versions.structs}, FRVT 1:1 API {versions.api}"]
    for name, entry in model_entries(manifest).items():
        lines.append(f"{name}: {entry['file']} sha256 {entry['sha256']} cpu {entry['cpu']} "
                     f"class {entry.get('isa_class')} {tuning_summary(entry)}")
    if KERNELS in manifest:
        k = manifest[KERNELS]
        lines.append(f"{KERNELS}: {k['file']} sha256 {k['sha256']} cpu {k['cpu']} class {k.get('isa_class')} "
                     f"kernels {', '.join(k['functions'])}")
    doc_dir.mkdir(parents=True, exist_ok=True)
    out = doc_dir / "version.txt"
    out.write_text("\n".join(lines) + "\n")
    return out
