"""The validation run, in NIST's order: layout, driver build, renamed read-only config, enrolment
(thread monitor), multi-image, 4-fork enrol/verif/match, multi-person; then log checks and timing."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from .. import paths
from ..progress import heartbeat
from ..config import Settings, settings_path
from frvt_runtime.config_dir import running_path
from frvt_runtime.errors import FrvtError
from .inputs import Inputs, check_image_folders, check_output_folder, prepare_inputs
from .clean_room import run_clean_room
from .logs import Check, check_log, check_scores, failure_to_enrol
from .readonly import ReadonlyRoom
from .code_paths import check_isa, run_other_paths
from .stand_in import run_root, unrunnable
from .summary import PHASE_HEADERS, SUMMARY_FILE, write_summary
from .timing import summarise_timing, timing_inputs


# What NIST sets, with the submission root as working directory: nothing else.
NIST_ENV = {"LD_LIBRARY_PATH": "./lib", "PATH": "/usr/bin:/bin"}


def check_layout(root: Path, settings: Settings) -> list[str]:
    errors = []
    libs = sorted((root / "lib").glob("libfrvt_11_*_???.so"))
    if len(libs) != 1:  # (named in full: a settings file's lib/ is out/<name>/lib, not the project's)
        errors.append(f"{root / 'lib'}/ must hold exactly one libfrvt_11_*_???.so, found {[p.name for p in libs]}")
    elif libs[0].name != settings.submission.library_name:
        errors.append(f"lib/{libs[0].name} does not match frvt.toml ({settings.submission.library_name})")
    version = root / "doc" / "version.txt"
    if not version.is_file() or not version.read_text().strip():
        errors.append(f"{version} is missing or empty")
    if not (root / "config").is_dir():
        errors.append(f"{root / 'config'}/ is missing")
    return errors


def check_nist_os(root: Path, out: Path) -> tuple[list, list[str], dict]:
    """Every ELF in lib/ against NIST's OS (glibc and libstdc++ symbol versions). os.txt names the
    OS this validation ran on; whether lib/ fits NIST's is a fact of its own (the summary's
    nist_os_compatible), and a misfit is an error (package refuses the run)."""
    from .summary import host_os
    from .symbols import POLICY_OS, check_symbol_versions

    r = check_symbol_versions(root / "lib")
    highest = ", ".join(f"{k} {v}" for k, v in sorted(r["highest"].items()))
    (out / "os.txt").write_text(host_os() + "\n")
    row = [f"{POLICY_OS}: {r['objects']} ELF files in lib/ need at most {highest}", "", "", len(r["problems"]),
           "", "", "ERROR" if r["problems"] else "ok"]
    fact = {"nist_os_compatible": not r["problems"], "nist_os_needs": highest}
    return row, [f"lib/ on {POLICY_OS}: {p}" for p in r["problems"]], fact


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
    from ..nist_headers import interface_versions

    versions = interface_versions()
    for cmd in (["cmake", "-S", str(paths.ROOT / "cpp_api" / "driver"), "-B", str(build_dir),
                 "-DCMAKE_BUILD_TYPE=Release", f"-DFRVT_LIB={library.resolve()}",
                 f"-DFRVT_EXPECT_STRUCTS={versions.structs}", f"-DFRVT_EXPECT_API={versions.api}"],
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


def relative_to_root(input_list: Path, root: Path) -> Path:
    """The list as the driver gets it: each absolute path made relative to the submission root
    the driver runs in, as NIST's lists are (../common/images/...), so the logs it writes, which
    ship with the submission, name no folder of the build machine. Same lines, ids and labels."""
    rows = [" ".join(os.path.relpath(t, root) if t.startswith("/") else t for t in ln.split())
            for ln in input_list.read_text().splitlines() if ln.strip()]
    out = input_list.with_name(f"{input_list.stem}.driver{input_list.suffix}")
    out.write_text("\n".join(rows) + "\n")
    return out


class Runner:
    def __init__(self, driver: Path, root: Path, out: Path, log, prefix: list[str] | None = None):
        """prefix: a command the driver runs under (e.g. setpriv as an unprivileged user)."""
        self.driver, self.root, self.out, self.log = driver, root, out, log
        self.env = NIST_ENV
        self.prefix = list(prefix or [])

    def run(self, action: str, stem: str, input_list: Path, forks: int, config: Path,
            role: str = "enroll", monitor: bool = False, absolute_config: bool = False) -> tuple[int, float, int, str]:
        tdir = self.out / "templates"
        tdir.mkdir(parents=True, exist_ok=True)
        # NIST runs from the submission root and passes configDir relative to it ("config").
        rel_config = str(config) if absolute_config else os.path.relpath(config, self.root)
        cmd = [*self.prefix, str(self.driver), action, "-c", rel_config, "-o", str(self.out), "-h", stem,
               "-i", str(relative_to_root(input_list, self.root)), "-t", str(forks), "-j", str(tdir)]
        if action == "createTemplate":
            at = len(self.prefix) + 2
            cmd[at:at] = ["-x", role]
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


class Phases:
    """The driver phases over one submission root: each adds a summary row, errors and warnings."""

    def __init__(self, runner: Runner, rows: list[list], errors: list[str], warnings: list[str]):
        self.runner, self.rows, self.errors, self.warnings = runner, rows, errors, warnings

    def phase(self, name, action, stem, input_list, forks, config, kind, role="enroll", monitor=False,
              exact=True) -> int:
        out = self.runner.out
        code, secs, threads, text = self.runner.run(action, stem, input_list, forks, config, role, monitor)
        c = check_log(out / f"{stem}.log", kind, input_list, exact) if code == 0 else Check()
        if code != 0:
            c.errors.append(f"{name}: driver exited {code}: {text[-500:]}")
        elif kind == "template":
            c.errors += [f"{name}: template {t} was not written"
                         for t in unwritten_templates(input_list, out / "templates")]
        if monitor and threads > 2:
            c.warnings.append(f"{name}: {threads} threads seen (driver + child = 2)")
        self.errors.extend(c.errors)
        self.warnings.extend(c.warnings)
        self.rows.append([name, forks, c.rows, c.nonzero, threads if monitor else "", f"{secs:.1f}",
                          "ERROR" if c.errors else ("warning" if c.warnings else "ok")])
        return code

    def config_check(self, input_list: Path) -> None:
        """NIST's hard-coded-path check on a read-only copy (readonly.ReadonlyRoom), run by an
        unprivileged user when validation runs as root; config/ must be byte-identical after it. When
        it fails, say whether the library would have worked with an absolute path."""
        main = self.runner
        room = ReadonlyRoom(main.root, main.driver, input_list)
        self.runner = Runner(room.driver, room.dir, room.out, main.log, room.prefix())
        try:
            who = "an unprivileged user" if room.unprivileged else "this user"
            if self.phase(f"config check (renamed copy, 550, {who})", "createTemplate", "config_check",
                          room.input_list, 1, room.config, "template") != 0:
                if self.runner.run("createTemplate", "config_check_absolute", room.input_list, 1, room.config,
                                   absolute_config=True)[0] == 0:
                    self.errors.append(
                        f"the library initialises with an absolute configDir but not with NIST's relative "
                        f"one (-c {room.config.name}, run from the submission root): resolve configDir against "
                        f"the working directory")
            changed = room.changed()
            if changed:
                self.errors.append(f"config check: the run changed config/ ({', '.join(changed[:5])}): NIST's "
                                   f"config/ is read-only")
        finally:
            self.runner = main
            room.keep_logs(main.out)
            room.remove()


def validate(settings: Settings, root: Path, out: Path, extra_images: list[Path], log=print,
             timing_images: int = 40, timing_repeats: int = 1,
             settings_file: Path | None = None, timing_core: int = 0) -> tuple[list[list], list[str], list[str], dict]:
    """Returns (summary rows, errors, warnings, timing report) and writes out/summary.json, which
    ties the result to the files of root's lib/ and config/ (package's gate). Layout, ISA, OS and
    lib/ checks read root's files; the driver phases and timing run them, or, when this CPU cannot
    run config/'s instruction set, the same lib/ with a config/ built for this host (stand_in)."""
    check_output_folder(out)  # (these three before an earlier run's output is emptied, not after)
    check_image_folders(extra_images)
    if out.exists():
        others = sorted(p.name for p in out.iterdir())
        if others and SUMMARY_FILE not in others:  # (`--output .` emptied the working folder)
            raise FrvtError(f"{out} holds files that are not a validation run's ({', '.join(others[:3])}"
                            f"{', ...' if len(others) > 3 else ''}; no {SUMMARY_FILE}): give a new or empty "
                            f"folder, which each run empties")
        shutil.rmtree(out)  # no earlier run's logs or summary survive a new one
    out.mkdir(parents=True)
    rows: list[list] = []
    errors: list[str] = []
    warnings: list[str] = []
    timing: dict = {}
    facts: dict = {}
    try:
        timing = _validate(settings, root, out, extra_images, log, timing_images, timing_repeats,
                           settings_file or settings_path(), rows, errors, warnings, facts, timing_core)
    except FrvtError as e:
        errors.append(str(e))
    finally:
        write_summary(out, root, errors, warnings, {**facts, "phases": {"headers": PHASE_HEADERS, "rows": rows},
                                                    "timing": _timing_facts(timing)})
    return rows, errors, warnings, timing


def _validate(settings, root, out, extra_images, log, timing_images, timing_repeats, settings_file,
              rows, errors, warnings, facts, timing_core=0) -> dict:
    errors.extend(check_layout(root, settings))
    if errors:
        return {}
    isa_rows, isa_errors, isa_warnings, path_facts = check_isa(root / "config")
    facts["code_paths"] = path_facts
    errors.extend(isa_errors)
    closure_row, closure_errors = check_self_contained(root)
    errors.extend(closure_errors)
    os_row, os_errors, os_fact = check_nist_os(root, out)
    errors.extend(os_errors)
    facts.update(os_fact)
    rows += [*isa_rows, closure_row, os_row]
    warnings.extend(isa_warnings)
    submitted = root
    root, stand_in = run_root(root, settings_file, log)
    facts["ran_config"] = str(root / "config")
    if stand_in:
        warnings.append(f"this CPU lacks {', '.join(stand_in['lacks'])}: the driver phases and timing ran a "
                        f"stand-in config/ compiled for this host, not the submitted one (run validation on a "
                        f"CPU of the submitted class to check it)")
        rows.append([f"ISA: this CPU cannot run config/; the phases below ran a stand-in built for "
                     f"{stand_in['built_for']}", "", "", "", "", "", "warning"])
    log("== preparing NIST-format inputs (subjects from known identities and folders)")
    inputs = prepare_inputs(out / "input", extra_images)
    n_images = sum(len(v) for v in inputs.subjects.values())
    log(f"   {len(inputs.subjects)} subjects, {n_images} images, "
        f"{sum(k == 'genuine' for _, k in inputs.pair_kinds.values())} genuine and "
        f"{sum(k == 'impostor' for _, k in inputs.pair_kinds.values())} impostor pairs")
    driver = build_driver(root / "lib" / settings.submission.library_name, paths.outputs_for(settings_file).driver,
                          log)
    phases = Phases(Runner(driver, root, out, log), rows, errors, warnings)
    phase = phases.phase
    log("== phase: renamed read-only config")
    phases.config_check(inputs.config_check)
    config = root / "config"
    log("== phase: enrolment (thread monitor)")
    phase("enroll, 1 process", "createTemplate", "enroll_1proc", inputs.enroll, 1, config, "template", monitor=True)
    phase("multi-image enroll", "createTemplate", "enroll_multi", inputs.multi_image, 1, config, "template")
    log("== phase: 4 forks")
    phase("enroll, 4 forks", "createTemplate", "enroll", inputs.enroll, 4, config, "template")
    fte = failure_to_enrol(out / "enroll.log", inputs.enroll, settings.submission.max_failure_to_enrol)
    errors.extend(fte.errors)
    rows.append([f"failure to enrol: {fte.nonzero} of {fte.rows} images with a face (at most "
                 f"{100 * settings.submission.max_failure_to_enrol:.0f}%)", "", fte.rows, fte.nonzero, "", "",
                 "ERROR" if fte.errors else "ok"])
    facts["failure_to_enrol"] = [fte.nonzero, fte.rows]
    phase("verif, 4 forks", "createTemplate", "verif", inputs.verif, 4, config, "template", role="verif")
    phase("match, 4 forks", "match", "match", _match_list(out, inputs), 4, config, "match")
    scores = check_scores(out, inputs)
    errors.extend(scores.errors)
    warnings.extend(scores.warnings)
    rows.append([f"scores: {scores.summary}", "", scores.rows, "", "", "",
                 "ERROR" if scores.errors else ("warning" if scores.warnings else "ok")])
    facts["scores"] = scores.ranges
    log("== phase: multi-person")
    phase("multi-person templates", "createMultiTemplates", "verif_multiperson", inputs.multi_person, 1, config,
          "multi", exact=False)
    mp_list = _multiperson_match_list(out, inputs)
    if mp_list is None:
        errors.append("multi-person match: verif_multiperson.log lists no templates to match")
    else:
        phase("multi-person match", "match", "match_multiperson", mp_list, 1, config, "match")
    log("== phase: clean room (interpreter, venv and project hidden)")
    with heartbeat(log, "clean room"):
        status, detail = run_clean_room(root, driver, _first_images(inputs.enroll, 4))
    if status == "ERROR":
        errors.append(f"clean room: {detail}")
    elif status == "skipped":
        warnings.append(f"clean-room check skipped: {detail}")
    rows.append(["clean room: only lib/ + config/ (" + detail[:60] + ")", 2, "", "", "", "", status])
    log(f"== phase: single-core timing on core {timing_core} (every size class, real faces enlarged to >= 5 MP "
        "among them)")
    timing_list = timing_inputs(out / "input" / "timing", timing_images, n_large=4, log=log)
    timing = run_timing(driver, root, out, timing_list, settings, timing_repeats, timing_core, log=log)
    errors.extend(timing.get("errors", []))
    if not stand_in:  # (a stand-in is one path, built for this host)
        main_path = running_path(root / "config")
        path_rows, path_errors, path_warnings = run_other_paths(
            lambda r, o: Runner(driver, r, o, log), root, out, inputs.enroll, main_path, path_facts,
            unrunnable(root / "config"), paths.outputs_for(settings_file).code_paths,
            lambda r, o: run_timing(driver, r, o, timing_list, settings, timing_repeats, timing_core, log=log), log)
        rows += path_rows
        errors.extend(path_errors)
        warnings.extend(path_warnings)
    if stand_in:
        timing["stand_in"] = stand_in
    facts["validated"] = str(submitted)
    return timing


def unwritten_templates(input_list: Path, tdir: Path) -> list[str]:
    """Template files the driver should have written for the list's ids and did not."""
    ids = [ln.split()[0] for ln in input_list.read_text().splitlines() if ln.strip()]
    return [f"{i}.template" for i in ids if not (tdir / f"{i}.template").is_file()]


def _first_images(input_list: Path, n: int) -> list[Path]:
    return [Path(ln.split()[1]) for ln in input_list.read_text().splitlines() if ln.strip()][:n]


def _match_list(out: Path, inputs: Inputs) -> Path:
    """The planned genuine and impostor pairs, as template paths (the enrolled one first)."""
    t = out / "templates"
    rows = [f"{t / (e + '.template')} {t / (v + '.template')}" for e, v in inputs.pair_kinds]
    f = inputs.folder / "match.txt"
    f.write_text("\n".join(rows) + "\n")
    return f


def _multiperson_match_list(out: Path, inputs: Inputs) -> Path | None:
    """Each multi-person template (ids from step 8's log) against enrolment templates; None when
    the log lists none (the phase then fails: there is nothing NIST could match)."""
    from .inputs import enroll_id
    from .logs import read_log

    t = out / "templates"
    mp = [r["id"] for r in read_log(out / "verif_multiperson.log", "multi") if "id" in r]
    if not mp:
        return None
    enrolled = [enroll_id(s, 0) for s in sorted(inputs.subjects)][:5]
    rows = [f"{t / (e + '.template')} {t / (m + '.template')}" for m in mp for e in enrolled]
    f = inputs.folder / "match_multiperson.txt"
    f.write_text("\n".join(rows) + "\n")
    return f


def _timing_facts(timing: dict) -> dict:
    return {k: timing[k] for k in ("median_ms", "match_us", "threads", "peak_rss_mb", "init_ms", "init_rss_mb",
                                   "table", "stages", "stand_in") if k in timing}


def run_timing(driver: Path, root: Path, out: Path, input_list: Path, settings: Settings, repeats: int = 1,
               core: int = 0, log=print) -> dict:
    """NIST's measurement: one process pinned to one core, single-image calls, std::chrono per call."""
    cmd = ["taskset", "-c", str(core), str(driver), "timing", "-c", "config", "-o", str(out),
           "-h", "timing", "-i", str(relative_to_root(input_list, root)), "-r", str(repeats)]
    with heartbeat(log, "timing"):
        proc = subprocess.run(cmd, cwd=root, env=NIST_ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"errors": [f"timing run failed: {proc.stderr[-500:]}"]}
    return summarise_timing(out, settings.submission.budget_template_ms, settings.submission.budget_match_ms)
