"""NIST's own validation package (`frvt nist-validate`): image stand-ins, host bypasses, and a real run."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from frvt_runtime.errors import ConfigError
from frvt_submission import paths
from frvt_submission.validation import nist_images, nist_package
from frvt_submission.validation.nist_images import listed_images, plan_images, rewrite_list

HOST = "Debian GNU/Linux 12 (bookworm)"
FACE = "../common/images/face/"
LISTS = {  # NIST's list shapes: one image per line, several (with NIST's trailing space), a match list
    "enroll.txt": (f"1 {FACE}S001-01-t10_01.ppm facemugshot\n3 {FACE}S001-05-t10_01.ppm facemugshot\n"
                   f"5 {FACE}S152-01-t10_01.ppm facemugshot\n1309 {FACE}8bit.pgm faceunknown\n"
                   f"1310 {FACE}big.ppm facephotojournalism\n1317 {FACE}IMG_9997.ppm facemugshot\n"),
    "verif.txt": (f"2 {FACE}S001-02-t10_01.ppm facemugshot\n6 {FACE}S152-02-t10_01.ppm facemugshot\n"
                  f"8 {FACE}S152-04-t10_01.ppm facemugshot\n"),
    "enroll_multiface.txt": f"21 {FACE}S001-01-t10_01.ppm faceunknown {FACE}S001-07-t10_01.ppm faceunknown \n",
    "match.txt": "1.template 2.template\n5.template 6.template\n",
}
POOL = {stem: Path("shared") / f"{stem}.jpg" for stem in
        ("S001-01-t10_01", "S001-02-t10_01", "S001-03-t10_01", "S007-01-t10_01", "S008-01-t10_01",
         "S008-02-t10_01", "S008-03-t10_01")} | {"8bit": Path("edge/8bit.ppm"), "black": Path("edge/black.ppm")}


@pytest.fixture(scope="session")
def nist_dir():
    if not (paths.SHARED_NIST / "11" / "run_validate_11.sh").is_file():
        pytest.skip("../shared/nist-frvt is absent")
    return paths.SHARED_NIST


def _plan():
    names = [p.rpartition("/")[2] for text in LISTS.values() for p in listed_images(text)]
    return plan_images(names, POOL)


def _words(line: str) -> list[str]:
    return line.split()


def test_only_image_paths_change_in_nist_lists():
    """Same lines, ids, labels, order and whitespace; a path keeps its folder and changes its file
    name only when no shared copy has that name."""
    plan = _plan()
    for name, text in LISTS.items():
        new = rewrite_list(text, plan)
        assert len(new.splitlines()) == len(text.splitlines()), name
        for old_line, new_line in zip(text.splitlines(keepends=True), new.splitlines(keepends=True)):
            assert re.findall(r"\s+", old_line) == re.findall(r"\s+", new_line)  # trailing space kept
            old, now = _words(old_line), _words(new_line)
            assert len(old) == len(now) and old[0] == now[0]  # the id
            for i in range(1, len(old)):
                if i % 2 == 0 or name == "match.txt":
                    assert now[i] == old[i]  # labels, and a match list's template names
                else:
                    assert now[i].rpartition("/")[0] == old[i].rpartition("/")[0]
    assert rewrite_list(LISTS["match.txt"], plan) == LISTS["match.txt"]


def test_shared_copies_keep_their_names_and_stand_ins_prefer_the_subject():
    t = _plan().target
    assert t["S001-01-t10_01.ppm"] == "S001-01-t10_01.ppm" and t["8bit.pgm"] == "8bit.pgm"
    assert _plan().real["8bit.pgm"] and not _plan().real["S001-05-t10_01.ppm"]
    assert t["S001-05-t10_01.ppm"].startswith("S001-")      # another image of the same subject
    assert t["S001-07-t10_01.ppm"] != t["S001-05-t10_01.ppm"]  # missing images of a subject take turns
    # A subject with no shared image: its images become different images of ONE stand-in subject.
    stand = [t[f"S152-0{k}-t10_01.ppm"] for k in (1, 2, 4)]
    assert len(set(stand)) == 3 and {s[:4] for s in stand} in ({"S001"}, {"S008"})
    for name in ("big.ppm", "IMG_9997.ppm"):  # no subject: any MEDS photo
        assert t[name] in {f"{s}.ppm" for s in POOL if s.startswith("S")}


def test_stand_ins_on_nists_own_lists(nist_dir, shared_data, tmp_path):
    """NIST's real lists: only paths change, every listed file is written in NIST's format."""
    import shutil

    pkg = tmp_path / "frvt"
    shutil.copytree(nist_dir, pkg)
    subprocess.run(["chmod", "-R", "u+w", str(pkg)], check=True)  # NIST's files are read-only here
    report = nist_images.prepare_images(pkg, shared_data)
    assert report.references > 1000 and 0 < report.real_refs < report.references
    assert f"{report.real_refs} are real copies" in report.line()
    assert f"{report.references - report.real_refs} are stand-ins" in report.line()
    for lst in sorted((nist_dir / "11" / "input").glob("*.txt")):
        old, new = lst.read_text().splitlines(), (pkg / "11" / "input" / lst.name).read_text().splitlines()
        assert len(old) == len(new)
        for a, b in zip(old, new):
            assert [w for i, w in enumerate(a.split()) if i % 2 == 0 or "template" in w] == \
                   [w for i, w in enumerate(b.split()) if i % 2 == 0 or "template" in w]
        for p in listed_images("\n".join(new)):
            f = pkg / "11" / p
            assert f.read_bytes()[:2] == (b"P5" if p.endswith(".pgm") else b"P6"), p


def test_os_check_bypass_says_so_and_touches_only_check_os(nist_dir, tmp_path):
    """Off NIST's OS, check_os exits; the copy's prints a note naming both OSes and returns."""
    utils = (nist_dir / nist_package.UTILS).read_text()
    wanted = nist_package.required_os(utils)
    assert nist_package.os_bypass(utils, wanted) == (utils, None)  # NIST's OS: nothing bypassed
    patched, message = nist_package.os_bypass(utils, HOST)
    assert f"NIST's OS check fails here: this host runs \"{HOST}\"" in message
    assert f"requires \"{wanted}\"" in message and "only that check bypassed" in message
    start = utils.index("check_os() {")
    assert patched[:start] == utils[:start]
    assert patched[patched.index("check_packages() {"):] == utils[utils.index("check_packages() {"):]
    (tmp_path / "utils.sh").write_text(patched)
    run = subprocess.run(["bash", "-c", 'source "$0"; check_os; echo "after: $?"', str(tmp_path / "utils.sh")],
                         capture_output=True, text=True, env={"PATH": os.environ["PATH"], "TERM": "dumb"})
    assert run.stdout.splitlines() == [f"{nist_package.NOTE} check_os bypassed: this host runs \"{HOST}\", "
                                       f"not \"{wanted}\"", "after: 0"]


def test_kill_line_needs_a_pid_namespace_or_the_users_word(nist_dir):
    """NIST's first line kills every count_thread process on the machine."""
    text = (nist_dir / nist_package.TESTDRIVER).read_text()
    prefix, same, _ = nist_package.isolation(text, namespace=True, patch_kill=False)
    assert prefix == list(nist_package.PID_NAMESPACE) and same == text
    with pytest.raises(ConfigError, match="Refusing to run; --patch-kill-line"):
        nist_package.isolation(text, namespace=False, patch_kill=False)
    prefix, patched, message = nist_package.isolation(text, namespace=False, patch_kill=True)
    changed = [(a, b) for a, b in zip(text.splitlines(), patched.splitlines()) if a != b]
    assert prefix == [] and len(changed) == 1 and "count_thread" in changed[0][0]
    assert changed[0][1].startswith(": #") and "--patch-kill-line" in message


def test_phases_read_from_nists_output():
    titles = {t: re.compile("^" + re.escape(t)) for t in ("Checking for hard-coded config directory",
                                                           "Creating Enrollment Templates (Single Process)",
                                                           "Matching Templates (Multiple Processes)")}
    lines = ["Checking for hard-coded config directory [SUCCESS]",
             "Creating Enrollment Templates (Single Process) line 73: 124 Killed  count_threads.sh",
             "[SUCCESS]", "[WARNING] We've detected that your software may be threading",
             "[ERROR] something", "[SUCCESS]"]  # any [ERROR] in a phase fails it
    phases = nist_package.read_phases(lines, titles)
    assert [(p.title, p.result, p.warnings) for p in phases] == [
        ("Checking for hard-coded config directory", "SUCCESS", 0),
        ("Creating Enrollment Templates (Single Process)", "ERROR", 1),
        ("Matching Templates (Multiple Processes)", "not reached", 0)]


def _tree_state(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.stat().st_mode, p.stat().st_mtime_ns,
                                       hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_nists_package_passes_on_the_built_library(nist_dir, shared_data, built, tmp_path, capsys):
    """The real thing: NIST's scripts on config/ + lib/ + doc/version.txt; DIR is not modified."""
    from frvt_submission.cli import main

    before = _tree_state(nist_dir)
    dist = sorted((paths.ROOT / "dist").glob("*")) if (paths.ROOT / "dist").is_dir() else []
    code = main(["nist-validate", "--frvt-dir", str(nist_dir), "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    for phase in ("Checking for hard-coded config directory", "Creating Enrollment Templates (Single Process)",
                  "Creating Enrollment Templates on Multiple Images per Subject (Single Process)",
                  "Creating Enrollment Templates (Multiple Processes)",
                  "Creating Verification Templates (Multiple Processes)", "Matching Templates (Multiple Processes)",
                  "Creating Verification Templates for Multiple Persons Detected in an Image (Single Process)",
                  "Matching Multi-person Templates (Single Process)", "Creating submission package"):
        assert f"  {phase} [SUCCESS]" in out, phase
    summary = next(line for line in out.splitlines() if line.startswith("nist-validate:"))
    assert "NIST's run passed (exit 0)" in summary and " 0 [ERROR] line(s)" in summary
    assert not [line for line in out.splitlines() if "[ERROR]" in line and line != summary]
    assert "[SUCCESS] Built executable" in (tmp_path / "out" / "run.log").read_text()
    assert _tree_state(nist_dir) == before
    assert (sorted((paths.ROOT / "dist").glob("*")) if (paths.ROOT / "dist").is_dir() else []) == dist
