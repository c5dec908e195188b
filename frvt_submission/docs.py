"""What was built and measured: the submission's doc/version.txt, and the stamp every measurement carries."""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from pathlib import Path

from . import __version__, paths
from .config import Settings
from .nist_headers import interface_versions
from frvt_runtime.config_dir import KERNELS, model_entries, path_entries, path_names, read_manifest, running_path


def _git_revision() -> str:
    """The commit this checkout is at, with "-dirty" when tracked files differ from it (a build or a
    measurement may then hold changes no commit has)."""
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


# A stamp's records when the figures came from the onnxruntime reference, not a TVM build.
REFERENCE = "onnxruntime reference"


@functools.lru_cache(maxsize=1)
def _host_llvm_cpu() -> str:
    """LLVM's name for this CPU (compile's "host"), asked in a child process: the measuring process
    may hold TVM's standalone runtime, which the compiler package must not join (compile/parity.py)."""
    ask = "from tvm.target import codegen; print(codegen.llvm_get_system_cpu())"
    try:
        out = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _build_records(config_dir: Path) -> tuple[str | None, dict | str]:
    """(the ISA class of the code path this CPU runs from config_dir, model -> {folder, class} of the
    records it used) from models.json."""
    from frvt_runtime.errors import ConfigError

    try:
        manifest = read_manifest(config_dir)
        models = model_entries(manifest, running_path(config_dir, manifest))
    except ConfigError as exc:
        return None, f"unknown ({exc})"
    classes = sorted({e.get("isa_class") or "none" for e in models.values()})
    return ", ".join(classes), {name: {"folder": e.get("records") or "none", "class": e.get("records_class")}
                                for name, e in models.items()}


def measurement_stamp(config_dir: Path | None) -> dict:
    """Where a figure comes from: the commit (as doc/version.txt has it), the date, this host's CPU
    (model name and LLVM CPU), the ISA class of the code measured and the tuning records each model
    of config_dir's build used; config_dir None: the onnxruntime reference (the host's class)."""
    from .compile.isa_class import class_of_features, host_cpu_name, host_features

    if config_dir is None:
        isa_class, records = class_of_features(host_features()), REFERENCE
    else:
        isa_class, records = _build_records(Path(config_dir))
    return {"commit": _git_revision(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "cpu": {"name": host_cpu_name(), "llvm": _host_llvm_cpu()}, "isa_class": isa_class,
            "records": records}


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
    if entry.get("int8_convs"):
        text += f"; {entry['int8_convs']} conv(s) in int8"
    return text + f"; graph passes {', '.join(entry.get('graph_passes') or []) or 'none'}"


def path_lines(manifest: dict) -> list[str]:
    """Each code path of a config/, and each of its files: CPU, class, required features, records, tuned."""
    lines = []
    for path in path_names(manifest):
        p = manifest["paths"][path]
        lines.append(f"code path {path}: cpu {p['cpu']} class {p.get('isa_class')} requires "
                     f"{' '.join(p.get('requires') or []) or 'nothing'}")
        for name, entry in model_entries(manifest, path).items():
            lines.append(f"  {name}: {entry['file']} sha256 {entry['sha256']} {tuning_summary(entry)}")
        k = path_entries(manifest, path).get(KERNELS)
        if k:
            lines.append(f"  {KERNELS}: {k['file']} sha256 {k['sha256']} kernels {', '.join(k['functions'])}")
    w = manifest["weights"]
    lines.append(f"weights: {w['file']} sha256 {w['sha256']} ({w.get('count')} arrays, {w.get('mb')} MB, "
                 f"shared by every path)")
    return lines


def write_version_file(settings: Settings, config_dir: Path, doc_dir: Path) -> Path:
    manifest = read_manifest(config_dir)
    sub = settings.submission
    versions = interface_versions()
    lines = [f"{sub.library_name} (frvt-submission {__version__}, git {_git_revision()})",
             f"FRVT structs {versions.structs}, FRVT 1:1 API {versions.api}",
             f"target {sub.target}: the library runs the first code path whose features the CPU has"]
    lines += path_lines(manifest)
    doc_dir.mkdir(parents=True, exist_ok=True)
    out = doc_dir / "version.txt"
    out.write_text("\n".join(lines) + "\n")
    return out
