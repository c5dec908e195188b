"""Every filesystem location the build tools use, in one place: the shared ones, and each settings file's outputs.

Stdlib only, and runnable as a script (`python3 frvt_submission/paths.py FILE` prints FILE's output
root for the Makefile), so that make can ask before the virtual environment exists.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = ROOT / "frvt.toml"
# Shared by every settings file: caches keyed by content, the committed records, the shared data.
BUILD = ROOT / "build"
MODEL_CACHE = BUILD / "models"          # downloaded wheels, extracted + cleaned ONNX (keyed by SHA-256)
TEST_IMAGES = BUILD / "test_images"     # registry-obtained images (face_recognition sdist)
TUNING_DB = ROOT / "tuning"             # committed MetaSchedule records, per target and model
QUANTIZATION = ROOT / "quantization"    # committed int8 calibrations, per model (models/quantize.py)
SHARED_DATA = ROOT.parent / "shared" / "data"
SHARED_NIST = ROOT.parent / "shared" / "nist-frvt"  # a copy of NIST's validation package (11/, common/)
PROFILES = ROOT / "profiles"            # ready-made settings files, one per model pair
PROFILE_OUTPUTS = ROOT / "out"          # another settings file's outputs, one folder each (outputs_for)


@dataclass(frozen=True)
class Outputs:
    """Where one settings file's build goes: the NIST layout (config/, lib/, doc/, validation/output)
    and dist/ at root, the build steps' own files under root/build. The project's frvt.toml has the
    project root itself; any other file a root of its own, so two never share an output."""

    root: Path

    @property
    def is_default(self) -> bool:
        return self.root == ROOT

    config = property(lambda self: self.root / "config")
    lib = property(lambda self: self.root / "lib")
    doc = property(lambda self: self.root / "doc")
    validation_output = property(lambda self: self.root / "validation" / "output")  # logs, summary.json
    dist = property(lambda self: self.root / "dist")  # the tarball
    docs = property(lambda self: self.root / "docs")  # measurements.md and benchmark.md
    build = property(lambda self: self.root / "build")
    compiled = property(lambda self: self.build / "compiled")  # TVM-exported model libraries, per target
    make_stamps = property(lambda self: self.build / "make")  # the Makefile's step stamps
    settings_stamps = property(lambda self: self.build / "settings")  # each make step's part of the settings
    measurements = property(lambda self: self.build / "measurements")  # parity.json, eval.json, bench-*.json
    timing = property(lambda self: self.build / "timing")  # frvt time's logs and timing.json
    nist_validate = property(lambda self: self.build / "nist-validate")  # the last run of NIST's package
    report = property(lambda self: self.build / "report.html")
    bench = property(lambda self: self.build / "bench")  # make bench's untuned and tuned builds
    driver = property(lambda self: self.build / "validate11")  # the NIST driver, linked to this lib/
    stand_in = property(lambda self: self.build / "host_stand_in")  # config/ compiled for this host
    code_paths = property(lambda self: self.build / "code_paths")  # validation's config/ copies forced to a path
    cmake_lib = property(lambda self: self.build / "cmake-lib")
    eval_library = property(lambda self: self.build / "eval-library")

    def shown(self) -> str:
        """The root as make and people use it: relative to the project when inside it."""
        return shown(self.root)


def shown(path: Path) -> str:
    """A path as make and people use it: relative to the project when inside it, else as it is."""
    path = Path(path)
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


DEFAULT_OUTPUTS = Outputs(ROOT)


def outputs_for(settings_file: str | Path) -> Outputs:
    """The project's own frvt.toml keeps the project root (the layout the README and NIST describe);
    a file in profiles/ gets out/<its stem>/; any other file out/<its stem>-<8 hex digits of its
    path>/, since files of one name in different folders (a user's ./frvt.toml) must not share one.
    Derived from the file rather than set in it: a copied settings file cannot inherit its
    original's outputs."""
    path = Path(settings_file).resolve()
    if path == SETTINGS_FILE:
        return DEFAULT_OUTPUTS
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", path.stem):  # a folder name, never "." or ".."
        raise ValueError(f"settings file {path}: its outputs go to a folder named after it (out/<file name "
                         f"without .toml>/), and {path.stem!r} is no plain folder name: name the file with "
                         f"letters, digits, _ . -")
    name = path.stem if path.parent == PROFILES else f"{path.stem}-{hashlib.sha256(bytes(path)).hexdigest()[:8]}"
    return Outputs(PROFILE_OUTPUTS / name)


if __name__ == "__main__":  # the Makefile: SETTINGS's root, "" for the project's, else "out/<name>/"
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit("usage: python3 frvt_submission/paths.py SETTINGS_FILE  (prints its output root, as make asks)")
    try:
        outputs = outputs_for(sys.argv[1])
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    print("" if outputs.is_default else outputs.shown() + "/")
