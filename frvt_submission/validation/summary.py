"""validation/summary.json: a run's result tied to the SHA-256 of every file in lib/ and config/; package's gate."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from frvt_runtime.config_dir import sha256_of

SUMMARY_FILE = "summary.json"
GATED = ("lib", "config")  # what NIST runs; doc/ is prose and may change after validation
PHASE_HEADERS = ["phase", "forks", "rows", "non-zero codes", "max threads", "seconds", "result"]


def host_os() -> str:
    """This machine's OS as /etc/os-release names it (NIST's script compares such strings)."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def host_facts() -> dict:
    from ..compile.isa_class import host_cpu_name

    return {"os": host_os(), "kernel": platform.release(), "cpu": host_cpu_name(),
            "python": platform.python_version()}


def file_hashes(root: Path) -> dict[str, str]:
    """'lib/<path>' -> SHA-256 for every file under root's lib/ and config/ (links by their target's bytes)."""
    hashes = {}
    for folder in GATED:
        base = root / folder
        for p in sorted(base.rglob("*")) if base.is_dir() else []:
            if p.is_file():
                hashes[p.relative_to(root).as_posix()] = sha256_of(p)
    return hashes


def shipped_path(path) -> str:
    """A folder as a shipped file may name it: relative to the project's root."""
    from .. import paths

    return os.path.relpath(path, paths.ROOT)


def write_summary(out: Path, root: Path, errors: list[str], warnings: list[str], facts: dict) -> Path:
    """facts' ran_config, when there, is the config/ the driver phases and timing ran (a stand-in's,
    when this CPU cannot run root's): the stamp names its build."""
    from ..docs import measurement_stamp
    from .symbols import POLICY_OS

    ran_config = Path(facts.get("ran_config") or root / "config")
    # It ships with the submission: folders are named relative to the project, never absolutely.
    shown = {k: shipped_path(v) if k in ("ran_config", "validated") else v for k, v in facts.items()}
    data = {"result": "failed" if errors else "passed", "errors": errors, "warnings": warnings,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nist_os": POLICY_OS, "build_host": host_facts(),
            **shown, "stamp": measurement_stamp(ran_config), "files": file_hashes(root)}
    f = out / SUMMARY_FILE
    f.write_text(json.dumps(data, indent=1) + "\n")
    return f


def _listed(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def read_summary(out: Path) -> tuple[dict | None, str]:
    """(out's summary.json, "") or (None, why there is none to read): missing, or unreadable (not
    JSON, or without the result and files a validation run writes)."""
    f = out / SUMMARY_FILE
    if not f.is_file():
        return None, f"no validation summary ({f}): run validation/validate.sh first"
    try:
        data = json.loads(f.read_text())
        dict(data["files"]), data["result"]  # (what gate and package rely on: raises when absent)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"{f} is unreadable ({type(e).__name__}: {e}): run validation/validate.sh again"
    return data, ""


def gate(out: Path, root: Path) -> list[str]:
    """Why package must refuse root's lib/ + config/: no validation, a failed one, or files changed since."""
    data, why = read_summary(out)
    if data is None:
        return [why]
    recorded, result = dict(data["files"]), data["result"]
    reasons = []
    if result != "passed":
        errs = data.get("errors") or ["(no error recorded)"]
        reasons.append(f"the last validation failed with {len(errs)} error(s), the first: {errs[0]}")
    now = file_hashes(root)
    changed = sorted(k for k in now.keys() & recorded.keys() if now[k] != recorded[k])
    added, removed = sorted(now.keys() - recorded.keys()), sorted(recorded.keys() - now.keys())
    if changed or added or removed:
        parts = [f"{label}: {_listed(names)}" for label, names in
                 (("changed", changed), ("added", added), ("removed", removed)) if names]
        reasons.append(f"the validation is stale, lib/ or config/ differ from what it validated "
                       f"({'; '.join(parts)}): run validation/validate.sh again")
    return reasons + unchecked_paths(data.get("code_paths") or {}, root / "config")


def unchecked_paths(checked: dict, config_dir: Path) -> list[str]:
    """A code path of config/ that the validation neither ran nor checked by disassembly: NIST could
    end up running code no one looked at."""
    from frvt_runtime.config_dir import path_names, read_manifest
    from frvt_runtime.errors import ConfigError

    try:
        names = path_names(read_manifest(config_dir))
    except ConfigError as exc:
        return [f"config/: {exc}"]
    return [f"code path {name} was neither run nor checked by disassembly in the last validation: run "
            f"validation/validate.sh again" for name in names
            if not (checked.get(name, {}).get("isa_checked") or str(checked.get(name, {}).get("run", "")).startswith(
                ("main run", "forced run")))]
