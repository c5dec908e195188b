"""Validation of each code path in config/: disassembly checks for all, driver runs and parity for those this CPU runs.

The library runs one path per CPU (frvt_runtime.code_paths), so the main validation run checks
only the one this host picks. Every other path this host can run is run here too, forced through
a copy of config/ whose pipeline.json names it: its templates must match the main run's (the
same faces, the same embeddings to float rounding) and its timing must hold the budget. A path
this host cannot run is checked by disassembly only, and the summary says so.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from frvt_runtime.config_dir import PIPELINE_FILE, model_entries, path_entries, path_names, read_manifest
from frvt_runtime.template import decode

from ..compile.isa_class import NIST_CPU, rank
from ..compile.parity import MIN_COSINE, min_cosine
from .isa import evex_instructions, foreign_instructions
from .logs import read_log

MAX_EYE_PX = 1.0


def check_isa(config_dir: Path) -> tuple[list[list], list[str], list[str], dict]:
    """(a summary row per path, errors, warnings, path -> facts). Every file of every path: no
    instruction NIST's Skylake-AVX512 lacks; a path below AVX-512 (the avx2 class): no EVEX-encoded
    instruction either. An untuned model is a warning."""
    from ..docs import tuning_summary

    manifest = read_manifest(config_dir)
    rows, errors, warnings, facts = [], [], [], {}
    for path in path_names(manifest):
        p = manifest["paths"][path]
        below_avx512 = rank(p.get("isa_class")) < rank("avx512")
        foreign = evex = 0
        for name, entry in path_entries(manifest, path).items():
            so = config_dir / entry["file"]
            found = foreign_instructions(so)
            foreign += sum(found.values())
            if found:
                errors.append(f"{entry['file']} (built for {p['cpu']}) uses instructions NIST's {NIST_CPU} lacks: "
                              f"{dict(found.most_common(5))}; set [submission] target")
            if below_avx512:
                wide = evex_instructions(so)
                evex += sum(wide.values())
                if wide:
                    errors.append(f"{entry['file']} (path {path}, for AVX2-only CPUs) holds {sum(wide.values())} "
                                  f"AVX-512 (EVEX) instructions, e.g. {dict(wide.most_common(3))}")
        models = model_entries(manifest, path)
        for name, entry in models.items():
            if not entry.get("tuned"):
                warnings.append(f"{path}/{name} is not tuned: {tuning_summary(entry)}. Its untuned kernels run "
                                f"10-50x slower; see `python -m frvt_submission tune --help`")
        checked = f"no EVEX, nothing beyond {NIST_CPU}" if below_avx512 else f"nothing beyond {NIST_CPU}"
        bad = foreign + evex
        rows.append([f"ISA [{path}]: {p['cpu']} ({p.get('isa_class')} class); checked: {checked}", "", "", bad,
                     "", "", "ERROR" if bad else "ok"])
        facts[path] = {"cpu": p["cpu"], "isa_class": p.get("isa_class"), "requires": p.get("requires", []),
                       "isa_checked": True, "isa_clean": not bad,
                       "tuned": all(e.get("tuned") for e in models.values()),
                       "records": {n: e.get("records") or "none" for n, e in models.items()}, "run": False}
    return rows, errors, warnings, facts


def forced_root(root: Path, path: str, folder: Path) -> Path:
    """A submission root whose config/ runs path whatever the CPU prefers: lib/ and doc/ linked,
    config/'s files hard-linked, pipeline.json rewritten with code_path = path, and the other paths'
    folders left out, so a run that loaded anything but path's code fails instead of passing unseen."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in ("lib", "doc"):
        (folder / name).symlink_to((root / name).resolve())
    config = folder / "config"
    try:
        shutil.copytree(root / "config", config, copy_function=os.link)
    except OSError:  # another file system
        shutil.rmtree(config, ignore_errors=True)
        shutil.copytree(root / "config", config)
    for other in path_names(read_manifest(config)):
        if other != path:
            shutil.rmtree(config / other)
    pipeline = json.loads((config / PIPELINE_FILE).read_text())
    pipeline.setdefault("pipeline", {})["code_path"] = path
    (config / PIPELINE_FILE).unlink()  # a hard link: the submitted file must not change
    (config / PIPELINE_FILE).write_text(json.dumps(pipeline, indent=1) + "\n")
    return folder


def template_parity(main_log: Path, main_templates: Path, other_log: Path, other_templates: Path,
                    bound: float = MIN_COSINE) -> dict:
    """The same images' templates from two paths: worst embedding cosine and eye distance, and the
    images whose enrolment differs (one path found a face, the other not); ok when the worst
    cosine reaches bound (compile.parity.min_cosine)."""
    main = {r["id"]: r for r in read_log(main_log, "template")}
    other = {r["id"]: r for r in read_log(other_log, "template")}
    cosines, eye_px, differ = [], [], []
    for tid, a in main.items():
        b = other.get(tid)
        if b is None:
            differ.append(tid)
            continue
        ta = decode((main_templates / f"{tid}.template").read_bytes())
        tb = decode((other_templates / f"{tid}.template").read_bytes())
        if (ta.embedding is None) != (tb.embedding is None):
            differ.append(tid)
        elif ta.embedding is not None:
            cosines.append(float(np.dot(ta.embedding, tb.embedding) /
                                 (np.linalg.norm(ta.embedding) * np.linalg.norm(tb.embedding))))
        if a["isLeftEyeAssigned"] == b["isLeftEyeAssigned"] == "1":
            eye_px.append(max(abs(float(a[k]) - float(b[k])) for k in ("xleft", "yleft", "xright", "yright")))
    return {"templates": len(main), "compared": len(cosines), "differ": differ,
            "min_cosine": min(cosines) if cosines else None, "max_eye_px": max(eye_px) if eye_px else None,
            "ok": bool(cosines) and not differ and min(cosines) >= bound and max(eye_px or [0]) <= MAX_EYE_PX}



def run_other_paths(runner_for, root: Path, out: Path, enroll_list: Path, main_path: str, paths_facts: dict,
                    lacking: dict[str, list[str]], work: Path, time_path, log) -> tuple[list[list], list[str], list[str]]:
    """Every path this host runs other than main_path (the one the library chose, which the main
    run checked): enrol the same images through a forced copy, compare with the main run's
    templates, time it. runner_for(root, out) -> a run.Runner; time_path(root, out) -> timing report.
    Returns (summary rows, errors, warnings)."""
    rows, errors, warnings = [], [], []
    for path, facts in paths_facts.items():
        if path == main_path:
            facts["run"] = "main run (the path this CPU picks)"
            continue
        if path in lacking:
            facts["run"] = f"not run: this CPU lacks {', '.join(lacking[path])}; checked by disassembly only"
            warnings.append(f"code path {path} was not run here (this CPU lacks {', '.join(lacking[path])}): "
                            f"checked by disassembly only")
            rows.append([f"code path {path}: not run here (this CPU lacks {', '.join(lacking[path])}); "
                         f"disassembly checked", "", "", "", "", "", "warning"])
            continue
        log(f"== code path {path}: forced, the same enrolment and the timing")
        forced = forced_root(root, path, work / path)
        pout = out / "paths" / path
        pout.mkdir(parents=True, exist_ok=True)
        code, secs, _, text = runner_for(forced, pout).run("createTemplate", "enroll_1proc", enroll_list, 1,
                                                            forced / "config")
        if code != 0:
            errors.append(f"code path {path}: driver exited {code}: {text[-300:]}")
            facts["run"] = "failed"
            continue
        par = template_parity(out / "enroll_1proc.log", out / "templates", pout / "enroll_1proc.log",
                              pout / "templates", min_cosine(model_entries(read_manifest(root / "config"), path)))
        timing = time_path(forced, pout)
        facts.update(run="forced run and timing", parity=par, median_ms=timing.get("median_ms"))
        errors.extend(f"code path {path}: {e}" for e in timing.get("errors", []))
        if not par["ok"]:
            errors.append(f"code path {path}: templates differ from {main_path}'s: min cosine {par['min_cosine']}, "
                          f"max eye difference {par['max_eye_px']} px, different enrolment for {par['differ'][:5]}")
        cos = "n/a" if par["min_cosine"] is None else f"{par['min_cosine']:.6f}"
        eye = "n/a" if par["max_eye_px"] is None else f"{par['max_eye_px']:.3f} px"
        rows.append([f"code path {path} vs {main_path}: {par['compared']} templates, min cosine {cos}, "
                     f"max eye diff {eye}; median template {timing.get('median_ms', float('nan')):.1f} ms",
                     1, par["templates"], len(par["differ"]), "", f"{secs:.1f}",
                     "ok" if par["ok"] and not timing.get("errors") else "ERROR"])
    return rows, errors, warnings
