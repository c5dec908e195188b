"""A run of NIST's own validation package on a temporary copy: the submission placed, host bypasses, phases read."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from frvt_runtime.errors import ConfigError

RUN_SCRIPT = "run_validate_11.sh"
UTILS = Path("common") / "scripts" / "utils.sh"
TESTDRIVER = Path("11") / "scripts" / "run_testdriver.sh"
SCRIPTS = (UTILS, Path("11") / "scripts" / "compile_and_link.sh", TESTDRIVER, Path("11") / RUN_SCRIPT)
# What NIST's scripts run besides bash's builtins (check_packages asks dpkg for gawk; any awk does).
TOOLS = ("awk", "bc", "sed", "grep", "g++", "cmake", "make", "top", "shuf", "tar")
PID_NAMESPACE = ("unshare", "--pid", "--fork", "--mount-proc")
# Only PATH (and HOME) from outside, as a vendor's shell has. TERM=dumb: NIST's bold/normal come
# from tput, and a dumb terminal has none, so the log is plain text.
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb"}
TAG = re.compile(r"\[(SUCCESS|ERROR|WARNING)\]")
ANSI = re.compile(r"\x1b(\[[0-9;]*[A-Za-z]|\([A-Za-z0-9])")
KILL_LINE = re.compile(r"^kill\b.*count_thread.*$", re.M)
NOTE = "[frvt nist-validate]"  # how the bypasses announce themselves in NIST's output


@dataclass
class Phase:
    title: str
    result: str = "started"
    warnings: int = 0


@dataclass
class Outcome:
    exit_code: int
    seconds: float
    tagged: list[str] = field(default_factory=list)   # NIST's [SUCCESS]/[ERROR]/[WARNING] lines
    phases: list[Phase] = field(default_factory=list)
    archives: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not any(p.result == "ERROR" for p in self.phases)


def copy_package(frvt_dir: Path, dest: Path) -> Path:
    """NIST's package (a checkout of NIST's repository or ../shared/nist-frvt) copied to dest,
    writable, without .git or a submission a user left in its 11/."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {".git"}
        if Path(folder).resolve() == (frvt_dir / "11").resolve():
            skip |= {"config", "lib", "doc"}
        return skip & set(names)

    shutil.copytree(frvt_dir, dest, symlinks=True, ignore=ignore)
    make_writable(dest)
    return dest


def make_writable(tree: Path) -> None:
    """u+w throughout: NIST's files are read-only here, and its scripts write beside them."""
    for folder, dirs, files in os.walk(tree):
        for name in [""] + dirs + files:
            p = Path(folder) / name
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | (0o700 if p.is_dir() else 0o200))


def place_submission(root: Path, eleven: Path) -> list[str]:
    """config/, lib/ and doc/version.txt of the project into NIST's 11/, as NIST's README says;
    what is missing is left for NIST's own check_folders to report."""
    placed = []
    for name in ("config", "lib"):
        if (root / name).is_dir():
            shutil.copytree(root / name, eleven / name, symlinks=True)
            placed.append(f"{name}/")
    if (root / "doc" / "version.txt").is_file():
        (eleven / "doc").mkdir()
        shutil.copy2(root / "doc" / "version.txt", eleven / "doc" / "version.txt")
        placed.append("doc/version.txt")
    return placed


def required_os(utils_text: str) -> str:
    m = re.search(r'^reqOS="([^"]*)"', utils_text, re.M)
    if not m:
        raise ConfigError(f"NIST's {UTILS} sets no reqOS: its OS check has changed, read it before running")
    return m.group(1)


def host_os() -> str:
    """The OS as NIST's check_os reads it (lsb_release's Description), else os-release's name."""
    try:
        out = subprocess.run(["lsb_release", "-a"], capture_output=True, text=True).stdout
        m = re.search(r"^Description:\s*(.*)$", out, re.M)
        if m and m.group(1).strip():
            return m.group(1).strip()
    except OSError:
        pass
    try:
        m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?$', Path("/etc/os-release").read_text(), re.M)
        return m.group(1) if m else "an unknown OS"
    except OSError:
        return "an unknown OS"


def bypass_function(utils_text: str, name: str, note: str) -> str:
    """utils.sh with the shell function `name` replaced by one that prints note and returns 0."""
    m = re.search(rf"^{re.escape(name)}\(\) \{{\n.*?^\}}\n", utils_text, re.M | re.S)
    if not m:
        raise ConfigError(f"NIST's {UTILS} has no function {name}() to bypass: read the script before running")
    echo = note.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
    return utils_text[:m.start()] + f'{name}() {{\n    echo "{echo}"\n    return 0\n}}\n' + utils_text[m.end():]


def os_bypass(utils_text: str, host: str) -> tuple[str, str | None]:
    """(utils.sh to run, message): unchanged and None when this host is NIST's OS; else check_os
    made to print a note and return, and a message naming both OSes."""
    wanted = required_os(utils_text)
    if host == wanted:
        return utils_text, None
    message = (f"NIST's OS check fails here: this host runs \"{host}\", NIST's check_os requires \"{wanted}\" "
               f"and exits otherwise. The remaining phases run with only that check bypassed, in the "
               f"temporary copy ({UTILS}: check_os prints a note and returns)")
    note = f"{NOTE} check_os bypassed: this host runs \"{host}\", not \"{wanted}\""
    return bypass_function(utils_text, "check_os", note), message


def nist_packages(utils_text: str) -> list[str]:
    m = re.search(r"^\s*for package in (.+)$", utils_text, re.M)
    return m.group(1).split() if m else []


def dpkg_lacks(packages: list[str]) -> list[str]:
    """The packages NIST's check_packages would `sudo apt-get install` (dpkg-query, as it asks)."""
    if not shutil.which("dpkg-query"):
        return list(packages)
    return [p for p in packages if "ok installed" not in
            subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout]


def packages_bypass(utils_text: str, lacking: list[str]) -> tuple[str, str | None]:
    """(utils.sh to run, message): check_packages made to print a note when it would install
    (lacking: dpkg_lacks's answer)."""
    if not lacking:
        return utils_text, None
    message = (f"dpkg does not list {', '.join(lacking)}, so NIST's check_packages would run `sudo apt-get "
               f"install -y {' '.join(lacking)}`; this command installs nothing: check_packages is bypassed in "
               f"the copy. The tools NIST's scripts use are on PATH: {', '.join(TOOLS)}")
    note = f"{NOTE} check_packages bypassed: dpkg does not list {' '.join(lacking)}; nothing is installed"
    return bypass_function(utils_text, "check_packages", note), message


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t, path=ENV["PATH"]) is None]


def pid_namespace_works() -> bool:
    """A new PID namespace with its own /proc (root; some containers forbid it even then)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run([*PID_NAMESPACE, "true"], capture_output=True).returncode == 0


def isolation(testdriver_text: str, namespace: bool, patch_kill: bool) -> tuple[list[str], str, str]:
    """(command prefix, run_testdriver.sh to run, message). NIST's first line kills every
    count_thread process on the machine: in a PID namespace it sees only this run's; without one
    the line is patched out only when the user asked for it, else the run is refused."""
    if not KILL_LINE.search(testdriver_text):
        return (list(PID_NAMESPACE) if namespace else []), testdriver_text, "NIST's scripts kill no other process"
    if namespace:
        return list(PID_NAMESPACE), testdriver_text, (
            "NIST's run_testdriver.sh begins by killing every process whose command line holds \"count_thread\"; "
            f"the scripts run in a new PID namespace ({' '.join(PID_NAMESPACE)}), where only their own "
            "processes are visible, so no other process is touched")
    if not patch_kill:
        raise ConfigError("NIST's run_testdriver.sh begins by killing every process on the machine whose command "
                          "line holds \"count_thread\", and no PID namespace can be made here (needs root and "
                          "unshare). Refusing to run; --patch-kill-line disables that one line in the copy")
    line = KILL_LINE.search(testdriver_text).group(0)
    patched = testdriver_text.replace(line, f": # {NOTE} disabled (no PID namespace): {line}", 1)
    return [], patched, ("no PID namespace here: as asked (--patch-kill-line), the first line of the copy's "
                         "run_testdriver.sh, which kills every count_thread process on the machine, is disabled")


def phase_titles(package: Path) -> dict[str, re.Pattern]:
    """NIST's phase titles (its `echo -n "..."` lines; variables match anything) in the scripts as
    they run (a bypassed function's title is gone), in the order they run."""
    titles = {}
    for rel in SCRIPTS:
        for text in re.findall(r'echo -n "([^"]+)"', (package / rel).read_text()):
            parts = re.split(r"\$\{?\w+\}?", text.strip())
            titles[text.strip()] = re.compile("^" + ".+?".join(re.escape(p) for p in parts))
    return titles


def read_phases(lines: list[str], titles: dict[str, re.Pattern]) -> list[Phase]:
    """Phases in the order NIST ran them: a title opens one, the tags until the next title are its
    result (any [ERROR] wins) and warnings. Tags before the first title are NIST's start-up checks;
    a title never printed is a phase not reached."""
    phases: list[Phase] = []
    seen = set()
    for line in lines:
        hit = next(((text, m) for text, t in titles.items() if (m := t.match(line))), None)
        if hit:
            seen.add(hit[0])
            phases.append(Phase(hit[1].group(0).strip()))
        tags = TAG.findall(line)
        if tags and not phases:
            phases.append(Phase("start-up checks (check_os, check_folders)"))
        for tag in tags:
            p = phases[-1]
            if tag == "WARNING":
                p.warnings += 1
            elif tag == "ERROR" or p.result != "ERROR":
                p.result = tag
    return phases + [Phase(text, "not reached") for text in titles if text not in seen]


class Echo:
    """What of NIST's output the user sees: its tagged lines, each with its phase's title when NIST
    ended that title's line with something else (bash's "Killed" of the thread monitor), the first
    entries a [WARNING] lists, and the bypasses' notes."""

    def __init__(self, titles: dict[str, re.Pattern], echo, entries: int = 10):
        self.titles, self.echo, self.max = titles, echo, entries
        self.pending: str | None = None
        self.listed: int | None = None  # entries shown after a [WARNING] that lists some

    def __call__(self, line: str) -> None:
        text = line.strip()
        m = next((m for t in self.titles.values() if (m := t.match(line))), None)
        if TAG.search(line):
            if self.pending and text.startswith(("[SUCCESS]", "[ERROR]")):
                text = f"{self.pending} {text}"
            elif self.pending:
                self.echo(f"  {self.pending}")
            self.pending = None
            self.echo(f"  {text}")
            self.listed = 0 if text.startswith("[WARNING]") and text.endswith(":") else None
        elif m:
            self.pending, self.listed = m.group(0).strip(), None
        elif line.startswith(NOTE):
            self.echo(f"  {text}")
        elif self.listed is not None and text:
            if self.listed < self.max:
                self.echo(f"      {text}")
            elif self.listed == self.max:
                self.echo("      ... (the rest in run.log)")
            self.listed += 1
        elif not text:
            self.listed = None


def run_scripts(eleven: Path, prefix: list[str], log_file: Path, echo: Echo) -> tuple[int, list[str]]:
    """NIST's ./run_validate_11.sh from its 11/, every output line to log_file and to echo."""
    lines = []
    with open(log_file, "wb") as log:
        proc = subprocess.Popen([*prefix, f"./{RUN_SCRIPT}"], cwd=eleven, env={**ENV, "HOME": str(eleven)},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for raw in proc.stdout:
            log.write(raw)
            log.flush()
            line = ANSI.sub("", raw.decode("utf-8", "replace")).rstrip("\n")
            lines.append(line)
            echo(line)
        return proc.wait(), lines


def run_package(root: Path, frvt_dir: Path, shared: Path, out: Path, log, patch_kill: bool = False,
                keep: bool = False) -> Outcome:
    """Copy NIST's package, place the submission and stand-in images, bypass what this host needs,
    run NIST's script and read its phases. DIR itself is only read."""
    from ..progress import heartbeat
    from .nist_images import prepare_images

    if any(c.isspace() for c in str(Path(tempfile.gettempdir()))):
        raise ConfigError("the temporary folder's path has whitespace, which NIST's scripts cannot take")
    if not frvt_dir.is_dir():
        what = "a file, not a folder" if frvt_dir.exists() else "no such folder"
        raise ConfigError(f"--frvt-dir {frvt_dir}: {what} (NIST's validation package, e.g. a checkout of "
                          f"github.com/usnistgov/frvt)")
    absent = missing_tools()
    if absent:
        raise ConfigError(f"NIST's scripts need {', '.join(absent)}, not found on PATH ({ENV['PATH']}); "
                          "this command installs nothing")
    for rel in SCRIPTS:  # (every script whose phase titles are read, not only those run first)
        if not (frvt_dir / rel).is_file():
            raise ConfigError(f"{frvt_dir} is not NIST's validation package: {rel} is missing")
    # Before any copying: a run that must be refused is refused at once.
    prefix, testdriver, iso_msg = isolation((frvt_dir / TESTDRIVER).read_text(), pid_namespace_works(), patch_kill)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="frvt-nist-"))
    try:
        package = copy_package(frvt_dir, work / "frvt")
        eleven = package / "11"
        log(f"NIST's package: {frvt_dir} copied to {package} (DIR is only read)")
        log(f"submission: {', '.join(place_submission(root, eleven)) or 'nothing'} from {root} into {eleven}")
        log(prepare_images(package, shared).line())
        utils = (package / UTILS).read_text()
        host, wanted = host_os(), required_os(utils)
        utils, os_msg = os_bypass(utils, host)
        lacking = dpkg_lacks(nist_packages(utils))
        utils, pkg_msg = packages_bypass(utils, lacking)
        (package / UTILS).write_text(utils)
        (package / TESTDRIVER).write_text(testdriver)
        log(f"OS: {os_msg or 'this host runs the OS NIST requires; check_os runs unmodified'}")
        log(f"packages: {pkg_msg or 'dpkg lists every package NIST checks; check_packages runs unmodified'}")
        log(f"processes: {iso_msg}")
        log_file = out / "run.log"
        log(f"running NIST's ./{RUN_SCRIPT} in {eleven} (full output: {log_file})")
        t0 = time.monotonic()
        titles = phase_titles(package)
        with heartbeat(log, "  NIST's run", every=30):
            code, lines = run_scripts(eleven, prefix, log_file, Echo(titles, log))
        outcome = Outcome(code, time.monotonic() - t0, [ln for ln in lines if TAG.search(ln)])
        bypassed = ([Phase(f"OS check (check_os: {wanted})", f"bypassed: {host}")] if os_msg else []) + (
            [Phase("package check (check_packages)", f"bypassed: dpkg lacks {' '.join(lacking)}")] if pkg_msg else [])
        outcome.phases = bypassed + read_phases(lines, titles)
        for p in outcome.phases:
            p.title = p.title.replace(str(package), "<copy>")
        outcome.archives = sorted(p.name for p in eleven.glob("libfrvt_11_*.tar.gz"))
        logs = out / "nist-logs"
        shutil.rmtree(logs, ignore_errors=True)
        for f in sorted((eleven / "validation").glob("*")):
            if f.is_file():
                logs.mkdir(exist_ok=True)
                shutil.copy2(f, logs / f.name)
        if keep:
            log(f"the temporary copy is kept: {work}")
        return outcome
    finally:
        if not keep:
            make_writable(work)  # NIST leaves config/ at mode 550
            shutil.rmtree(work, ignore_errors=True)
