"""Symbol-version policy check: the ELF parser against readelf, patched needs caught, real lib/ passes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from frvt_submission import paths
from frvt_submission.validation.symbols import POLICY_MAX, check_symbol_versions, elf_files, needed_versions

needs_toolchain = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("g++") and shutil.which("readelf")),
                                     reason="gcc, g++ and readelf are needed to build test objects")

# pthread_create moved into libc at glibc 2.34, so a library calling it needs GLIBC_2.34 (> the 2.2.5 baseline).
C_SOURCE = """#include <pthread.h>
static void *run(void *arg) { return arg; }
int go(void) { pthread_t t; return pthread_create(&t, 0, run, 0); }
"""
# std::string with the C++11 ABI and shrink_to_fit need GLIBCXX_3.4.21; the throw needs CXXABI.
CXX_SOURCE = """#include <stdexcept>
#include <string>
void go(const char *s) { std::string x(s); x.shrink_to_fit(); throw std::runtime_error(x); }
"""


def _compile(tmp: Path, compiler: str, source: str, name: str) -> Path:
    src = tmp / f"{name}.{'c' if compiler == 'gcc' else 'cpp'}"
    src.write_text(source)
    out = tmp / f"{name}.so"
    subprocess.run([compiler, "-shared", "-fPIC", str(src), "-o", str(out)], check=True, capture_output=True)
    src.unlink()   # only the object should be in the scanned folder
    return out


def _readelf_highest(path: Path) -> dict[str, tuple[int, ...]]:
    """The independent answer: highest needed version per family, from `readelf --version-info`."""
    out = subprocess.run(["readelf", "--version-info", "-W", str(path)], check=True,
                         capture_output=True, text=True).stdout
    needs = out.partition("'.gnu.version_r'")[2]
    highest: dict[str, tuple[int, ...]] = {}
    for family, number in re.findall(r"Name: (GLIBC|GLIBCXX|CXXABI)_([0-9.]+)\s", needs):
        version = tuple(int(p) for p in number.split("."))
        highest[family] = max(highest.get(family, ()), version)
    return highest


def _patch(path: Path, old: str, new: str) -> None:
    # Same length, NUL-terminated, so every string table offset in the file stays valid.
    assert len(old) == len(new)
    data = path.read_bytes()
    assert old.encode() + b"\0" in data
    path.write_bytes(data.replace(old.encode() + b"\0", new.encode() + b"\0"))


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


@needs_toolchain
def test_fresh_library_passes_and_matches_readelf(tmp_path):
    so = _compile(tmp_path, "gcc", C_SOURCE, "tiny")
    expected = _readelf_highest(so)
    assert expected["GLIBC"] == (2, 34)
    assert needed_versions(so) == expected
    # A symlink into the folder is the same object, not a second one; a text file is not an object.
    (tmp_path / "libtiny.so.1").symlink_to(so.name)
    (tmp_path / "notes.txt").write_text("not ELF")
    report = check_symbol_versions(tmp_path)
    assert report == {"objects": 1, "highest": {"GLIBC": "2.34"}, "problems": []}


@needs_toolchain
def test_too_new_glibc_is_reported(tmp_path):
    so = _compile(tmp_path, "gcc", C_SOURCE, "tiny")
    _patch(so, "GLIBC_2.34", "GLIBC_2.40")
    assert _readelf_highest(so)["GLIBC"] == (2, 40)
    report = check_symbol_versions(tmp_path)
    assert report["highest"]["GLIBC"] == "2.40"
    assert report["problems"] == ["tiny.so needs GLIBC_2.40 > 2.39 (Ubuntu 24.04.3 LTS)"]


@needs_toolchain
def test_too_new_glibcxx_is_reported(tmp_path):
    sub = tmp_path / "python" / "lib"
    sub.mkdir(parents=True)
    so = _compile(sub, "g++", CXX_SOURCE, "cxx")
    have = _readelf_highest(so)
    assert needed_versions(so) == have
    assert "CXXABI" in have and have["GLIBCXX"] <= POLICY_MAX["GLIBCXX"]
    assert check_symbol_versions(tmp_path)["problems"] == []
    # Bump this compiler's highest GLIBCXX need one past NIST's libstdc++ (GCC 13: 3.4.32).
    old = f"GLIBCXX_{_dotted(have['GLIBCXX'])}"
    if len(old) != len("GLIBCXX_3.4.33"):
        pytest.skip(f"{old} cannot be patched in place to GLIBCXX_3.4.33")
    _patch(so, old, "GLIBCXX_3.4.33")
    problems = check_symbol_versions(tmp_path)["problems"]
    assert problems == ["python/lib/cxx.so needs GLIBCXX_3.4.33 > 3.4.32 (Ubuntu 24.04.3 LTS)"]


@needs_toolchain
def test_truncated_elf_is_a_problem_not_a_crash(tmp_path):
    so = _compile(tmp_path, "gcc", C_SOURCE, "tiny")
    (tmp_path / "stub.so").write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 20)   # magic, then cut short
    (tmp_path / "cut.so").write_bytes(so.read_bytes()[:len(so.read_bytes()) // 2])   # headers fine, sections gone
    (tmp_path / "elf32.so").write_bytes(b"\x7fELF\x01\x01\x01" + b"\0" * 100)
    report = check_symbol_versions(tmp_path)
    assert report["objects"] == 4
    assert report["highest"] == {"GLIBC": "2.34"}   # the intact object is still read
    bad = sorted(p.split(":")[0] for p in report["problems"])
    assert bad == ["cut.so", "elf32.so", "stub.so"], report["problems"]
    assert all("unreadable ELF" in p for p in report["problems"])


def test_real_lib_meets_nist_policy(built):
    lib = paths.DEFAULT_OUTPUTS.lib
    report = check_symbol_versions(lib)
    assert report["objects"] > 10
    assert report["problems"] == []
    assert {"GLIBC", "GLIBCXX"} <= set(report["highest"])
    # The parser agrees with readelf on every object, so "no problems" is not a parser blind spot.
    if shutil.which("readelf"):
        for obj in elf_files(lib):
            assert needed_versions(obj) == _readelf_highest(obj), obj
