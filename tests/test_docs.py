"""doc/version.txt's facts: the project's version and the commit the build came from."""

import subprocess
import tomllib

from frvt_submission import __version__, paths


def test_the_version_is_pyprojects():
    """__init__ said 0.1.0 while pyproject.toml said 0.4.0, and version.txt (shipped to NIST) took
    __init__'s."""
    assert __version__ == tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_revision_says_dirty_when_tracked_files_changed(tmp_path, monkeypatch):
    from frvt_submission.docs import _git_revision

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    monkeypatch.setattr(paths, "ROOT", tmp_path)
    assert _git_revision() == "unknown"  # not a repository
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "one")
    rev = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    (tmp_path / "build.log").write_text("untracked output\n")  # build outputs are not changes
    assert _git_revision() == rev
    (tmp_path / "a.py").write_text("x = 2\n")
    assert _git_revision() == f"{rev}-dirty"
