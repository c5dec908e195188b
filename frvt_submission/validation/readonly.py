"""NIST's hard-coded-path check on a copy: config/ renamed, read-only, run by an unprivileged user."""

from __future__ import annotations

import os
import random
import shutil
import stat
import string
import tempfile
from pathlib import Path

from frvt_runtime.config_dir import sha256_of

# The unprivileged user the driver runs as when validation runs as root: root ignores a folder's
# mode, so a library that writes into configDir would pass NIST's 550 check here and fail there.
NOBODY = 65534


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_of(p) for p in sorted(folder.rglob("*")) if p.is_file()}


class ReadonlyRoom:
    """A temporary submission root holding a copy of lib/, the driver, the listed images and
    config/ under 20 random characters, mode 550 (files 440). The working tree's config/ is never
    renamed, so a validation killed midway leaves it in place."""

    def __init__(self, root: Path, driver: Path, input_list: Path):
        self.dir = Path(tempfile.mkdtemp(prefix="frvt-readonly-"))
        self.dir.chmod(0o755)  # the unprivileged user must reach what is inside
        shutil.copytree(root / "lib", self.dir / "lib", symlinks=True)
        self.driver = self.dir / driver.name
        shutil.copy2(driver, self.driver)
        images = self.dir / "images"
        images.mkdir()
        rows = []
        for k, line in enumerate(ln for ln in input_list.read_text().splitlines() if ln.strip()):
            tid, *rest = line.split()
            pairs = [rest[i:i + 2] for i in range(0, len(rest), 2)]
            copied = []
            for j, (image, label) in enumerate(pairs):
                dst = images / f"{k}_{j}{Path(image).suffix}"
                shutil.copy2(image, dst)
                copied += [str(dst), label]
            rows.append(" ".join([tid, *copied]))
        self.input_list = self.dir / "list.txt"
        self.input_list.write_text("\n".join(rows) + "\n")
        self.out = self.dir / "out"
        (self.out / "templates").mkdir(parents=True)  # the driver writes its templates there
        self.config = self.dir / "".join(random.choice(string.ascii_letters + string.digits) for _ in range(20))
        shutil.copytree(root / "config", self.config)
        self.unprivileged = os.geteuid() == 0
        for p in [self.out, *self.out.rglob("*")]:
            p.chmod(0o777)
        for p in [self.config, *self.config.rglob("*")]:
            if self.unprivileged:
                os.chown(p, NOBODY, NOBODY)
            p.chmod(0o550 if p.is_dir() else 0o440)
        self.before = _hashes(self.config)

    def prefix(self) -> list[str]:
        """The command prefix that runs the driver as the unprivileged user (none when not root)."""
        return (["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
                if self.unprivileged else [])

    def changed(self) -> list[str]:
        """config/ files the run changed, added or removed (by name). Mode 550/440 leaves them
        readable by their owner, and root reads them whatever the mode."""
        after = _hashes(self.config)
        return sorted(k for k in set(self.before) | set(after) if self.before.get(k) != after.get(k))

    def keep_logs(self, out: Path) -> None:
        """The run's logs into the validation's own output folder (they ship with the submission)."""
        out.mkdir(parents=True, exist_ok=True)
        for log in self.out.glob("*.log"):
            shutil.copyfile(log, out / log.name)

    def remove(self) -> None:
        for p in [self.dir, *self.dir.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(stat.S_IRWXU)
        shutil.rmtree(self.dir, ignore_errors=True)
