"""The validation run, in NIST's order: layout, driver build, renamed read-only config, enrolment
(thread monitor), multi-image, 4-fork enrol/verif/match, multi-person; then log checks and timing."""

from __future__ import annotations

import os
import platform
import random
import shutil
import stat
import string
import subprocess
import threading
import time
from pathlib import Path

from .. import paths
from ..compile.tvm_build import NIST_CPU
from ..config import Settings
from ..errors import FrvtError
from .inputs import Inputs, prepare_inputs
from .clean_room import run_clean_room
from .logs import Check, check_log
from .stand_in import run_root
from .timing import summarise_timing


def check_layout(root: Path, settings: Settings) -> list[str]:
    errors = []
    libs = sorted((root / "lib").glob("libfrvt_11_*_???.so"))
    if len(libs) != 1:
        errors.append(f"lib/ must hold exactly one libfrvt_11_*_???.so, found {[p.name for p in libs]}")
    elif libs[0].name != settings.submission.library_name:
        errors.append(f"lib/{libs[0].name} does not match frvt.toml ({settings.submission.library_name})")
    version = root / "doc" / "version.txt"
    if not version.is_file() or not version.read_text().strip():
        errors.append("doc/version.txt is missing or empty")
    if not (root / "config").is_dir():
        errors.append("config/ is missing")
    return errors


def check_isa(config_dir: Path) -> tuple[list, list[str], list[str]]:
    """State the CPU and class the models were built for; any instruction Skylake-AVX512 lacks
    is an error, and a model whose kernels were not all scheduled by its own records a warning."""
    from ..docs import tuning_summary
    from ..face.config_dir import read_manifest
    from .isa import foreign_instructions

    manifest = read_manifest(config_dir)
    cpus = sorted({f"{e['cpu']} ({e.get('isa_class')})" for e in manifest.values()})
    errors, warnings = [], []
    total = 0
    for name, entry in manifest.items():
        if not entry.get("tuned"):
            warnings.append(f"{name} is not tuned: {tuning_summary(entry)}. Its untuned kernels run "
                            f"10-50x slower; see `python -m frvt_submission tune --help`")
        found = foreign_instructions(config_dir / entry["file"])
        total += sum(found.values())
        if found:
            errors.append(f"{entry['file']} (built for {entry['cpu']}) uses instructions NIST's "
                          f"{NIST_CPU} lacks: {dict(found.most_common(5))}; set [submission] target")
    row = [f"ISA: models built for {', '.join(cpus)}; checked against {NIST_CPU}", "", "", total, "", "",
           "ERROR" if errors else ("warning" if warnings else "ok")]
    return row, errors, warnings


def check_self_contained(root: Path) -> tuple[list, list[str]]:
    """Every shared object under lib/ resolves inside lib/ or the system (NIST installs nothing)."""
    from .closure import check_closure, folder_mb

    r = check_closure(root / "lib")
    row = [f"self-contained lib/: {r['objects']} shared objects; lib {r['lib_mb']} MB, "
           f"config {folder_mb(root / 'config')} MB", "", "", len(r["problems"]), "", "",
           "ERROR" if r["problems"] else "ok"]
    return row, [f"lib/ closure: {p}" for p in r["problems"]]


def build_driver(library: Path, build_dir: Path, log) -> Path:
    build_dir.mkdir(parents=True, exist_ok=True)
    for cmd in (["cmake", "-S", str(paths.ROOT / "cpp_api" / "driver"), "-B", str(build_dir),
                 "-DCMAKE_BUILD_TYPE=Release", f"-DFRVT_LIB={library.resolve()}"],
                ["cmake", "--build", str(build_dir)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise FrvtError(f"driver build failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    log(f"driver built: {build_dir / 'validate11'}")
    return build_dir / "validate11"


def _threads_of_tree(pid: int) -> int:
    """Threads of pid and its children (NIST counts the driver and its child)."""
    total = 0
    try:
        total += len(os.listdir(f"/proc/{pid}/task"))
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(_threads_of_tree(int(c)) for c in children)


class Runner:
    def __init__(self, driver: Path, root: Path, out: Path, log):
        self.driver, self.root, self.out, self.log = driver, root, out, log
        self.env = {"LD_LIBRARY_PATH": str(root / "lib"), "PATH": "/usr/bin:/bin"}  # what NIST sets

    def run(self, action: str, stem: str, input_list: Path, forks: int, config: Path,
            role: str = "enroll", monitor: bool = False) -> tuple[int, float, int, str]:
        tdir = self.out / "templates"
        tdir.mkdir(parents=True, exist_ok=True)
        cmd = [str(self.driver), action, "-c", str(config), "-o", str(self.out), "-h", stem,
               "-i", str(input_list), "-t", str(forks), "-j", str(tdir)]
        if action == "createTemplate":
            cmd[2:2] = ["-x", role]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=self.root, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        peak = [0]
        if monitor:
            def watch():
                while proc.poll() is None:
                    peak[0] = max(peak[0], _threads_of_tree(proc.pid))
                    time.sleep(0.2)
            threading.Thread(target=watch, daemon=True).start()
        stdout, stderr = proc.communicate()
        secs = time.perf_counter() - t0
        self.log(f"  {action} {stem}: exit {proc.returncode} in {secs:.1f} s")
        return proc.returncode, secs, peak[0], (stdout + stderr).strip()


def renamed_readonly_config(root: Path) -> Path:
    """NIST's hard-coded-path check: config/ renamed to 20 random characters, mode 550."""
    name = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(20))
    renamed = root / name
    (root / "config").rename(renamed)
    for p in [renamed, *renamed.rglob("*")]:
        p.chmod(0o550 if p.is_dir() else 0o440)
    return renamed


def restore_config(root: Path, renamed: Path) -> None:
    for p in [renamed, *renamed.rglob("*")]:
        p.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH if p.is_dir() else 0o644)
    renamed.rename(root / "config")


def validate(settings: Settings, root: Path, out: Path, extra_images: list[Path], log=print,
             timing_images: int = 40, timing_repeats: int = 1,
             settings_file: Path = paths.SETTINGS_FILE) -> tuple[list[list], list[str], list[str], dict]:
    """Returns (summary rows, errors, warnings, timing report). Layout, ISA and lib/ checks read
    root's files; the driver phases and timing run them, or, when this CPU cannot run
    config/'s instruction set, the same lib/ with a config/ built for this host (stand_in)."""
    errors = check_layout(root, settings)
    if errors:
        return [], errors, [], {}
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "os.txt").write_text(_os_string() + "\n")
    isa_row, isa_errors, isa_warnings = check_isa(root / "config")
    errors.extend(isa_errors)
    closure_row, closure_errors = check_self_contained(root)
    errors.extend(closure_errors)
    rows, warnings = [isa_row, closure_row], list(isa_warnings)
    root, stand_in = run_root(root, settings_file, log)
    if stand_in:
        warnings.append(f"this CPU lacks {', '.join(stand_in['lacks'])}: the driver phases and timing ran a "
                        f"stand-in config/ compiled for this host, not the submitted one (run validation on a "
                        f"CPU of the submitted class to check it)")
        rows.append([f"ISA: this CPU cannot run config/; the phases below ran a stand-in built for "
                     f"{stand_in['built_for']}", "", "", "", "", "", "warning"])
    log("== preparing NIST-format inputs")
    inputs = prepare_inputs(out / "input", extra_images)
    driver = build_driver(root / "lib" / settings.submission.library_name, paths.BUILD / "validate11", log)
    runner = Runner(driver, root, out, log)

    def phase(name, action, stem, input_list, forks, config, kind, role="enroll", monitor=False, exact=True):
        code, secs, threads, text = runner.run(action, stem, input_list, forks, config, role, monitor)
        c = check_log(out / f"{stem}.log", kind, input_list, exact) if code == 0 else Check()
        if code != 0:
            c.errors.append(f"{name}: driver exited {code}: {text[-500:]}")
        if monitor and threads > 2:
            c.warnings.append(f"{name}: {threads} threads seen (driver + child = 2)")
        errors.extend(c.errors)
        warnings.extend(c.warnings)
        rows.append([name, forks, c.rows, c.nonzero, threads if monitor else "", f"{secs:.1f}",
                     "ERROR" if c.errors else ("warning" if c.warnings else "ok")])

    log("== phase: renamed read-only config")
    renamed = renamed_readonly_config(root)
    try:
        phase("config check (renamed, 550)", "createTemplate", "config_check", inputs.config_check, 1, renamed,
              "template")
    finally:
        restore_config(root, renamed)
    config = root / "config"
    log("== phase: enrolment (thread monitor)")
    phase("enroll, 1 process", "createTemplate", "enroll_1proc", inputs.enroll, 1, config, "template", monitor=True)
    phase("multi-image enroll", "createTemplate", "enroll_multi", inputs.multi_image, 1, config, "template")
    log("== phase: 4 forks")
    phase("enroll, 4 forks", "createTemplate", "enroll", inputs.enroll, 4, config, "template")
    phase("verif, 4 forks", "createTemplate", "verif", inputs.verif, 4, config, "template", role="verif")
    match_list = _match_list(out, inputs)
    phase("match, 4 forks", "match", "match", match_list, 4, config, "match")
    log("== phase: multi-person")
    phase("multi-person templates", "createMultiTemplates", "verif_multiperson", inputs.multi_person, 1, config,
          "multi", exact=False)
    mp_list = _multiperson_match_list(out, inputs)
    phase("multi-person match", "match", "match_multiperson", mp_list, 1, config, "match")
    log("== phase: clean room (interpreter, venv and project hidden)")
    status, detail = run_clean_room(root, driver, _first_images(inputs.enroll, 4))
    if status == "ERROR":
        errors.append(f"clean room: {detail}")
    elif status == "skipped":
        warnings.append(f"clean-room check skipped: {detail}")
    rows.append(["clean room: only lib/ + config/ (" + detail[:60] + ")", 2, "", "", "", "", status])
    log("== phase: single-core timing")
    timing = _timing(driver, root, out, inputs, settings, timing_images, timing_repeats, log)
    errors.extend(timing.get("errors", []))
    if stand_in:
        timing["stand_in"] = stand_in
    return rows, errors, warnings, timing


def _first_images(input_list: Path, n: int) -> list[Path]:
    return [Path(ln.split()[1]) for ln in input_list.read_text().splitlines() if ln.strip()][:n]


def _match_list(out: Path, inputs: Inputs) -> Path:
    """Genuine (same subject) and impostor (next subject) pairs of enrol/verif templates."""
    t = out / "templates"
    sids = sorted(inputs.subjects)
    rows = []
    for i, sid in enumerate(sids):
        rows.append(f"{t / (sid + '_e.template')} {t / (sid + '_v.template')}")
        other = sids[(i + 1) % len(sids)]
        rows.append(f"{t / (sid + '_e.template')} {t / (other + '_v.template')}")
    f = out / "input" / "match.txt"
    f.write_text("\n".join(rows) + "\n")
    return f


def _multiperson_match_list(out: Path, inputs: Inputs) -> Path:
    """Each multi-person template (ids from step 8's log) against the enrolment templates."""
    from .logs import read_log

    t = out / "templates"
    mp = [r["id"] for r in read_log(out / "verif_multiperson.log", "multi") if "id" in r]
    enrolled = [s + "_e" for s in sorted(inputs.subjects)][:5]
    rows = [f"{t / (e + '.template')} {t / (m + '.template')}" for m in mp for e in enrolled]
    f = out / "input" / "match_multiperson.txt"
    f.write_text("\n".join(rows or ["none none"]) + "\n")
    return f


def _timing(driver, root, out, inputs, settings, n_images, repeats, log) -> dict:
    lines = [ln for ln in inputs.enroll.read_text().splitlines() if ln.strip()][:n_images]
    lst = out / "input" / "timing.txt"
    lst.write_text("\n".join(lines) + "\n")
    return run_timing(driver, root, out, lst, settings, repeats)


def run_timing(driver: Path, root: Path, out: Path, input_list: Path, settings: Settings, repeats: int = 1,
               core: int = 0) -> dict:
    """NIST's measurement: one process pinned to one core, single-image calls, std::chrono per call."""
    cmd = ["taskset", "-c", str(core), str(driver), "timing", "-c", str(root / "config"), "-o", str(out),
           "-h", "timing", "-i", str(input_list), "-r", str(repeats)]
    proc = subprocess.run(cmd, cwd=root, env={"LD_LIBRARY_PATH": str(root / "lib"), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"errors": [f"timing run failed: {proc.stderr[-500:]}"]}
    return summarise_timing(out, settings.submission.budget_template_ms, settings.submission.budget_match_ms)


def _os_string() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()
