"""Hostile input through the C++ interface, and a sanitizer fuzz of the native template matcher."""

import subprocess

import pytest

from frvt_submission import paths


@pytest.fixture(scope="module")
def programs(built):
    out = paths.BUILD / "cpp-tests"
    for cmd in (["cmake", "-S", str(paths.ROOT / "cpp_api" / "tests"), "-B", str(out),
                 f"-DFRVT_LIB={built['lib'].resolve()}", f"-DFRVT_GENERATED_DIR={paths.BUILD / 'generated'}"],
                ["cmake", "--build", str(out), "-j", "2"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return out


def _rows(stdout):
    lines = stdout.splitlines()
    return {ln.split()[0]: ln.split()[1:] for ln in lines[1:] if ln and not ln.startswith("violations")}


def test_hostile_images_and_templates(programs, built):
    edge = paths.SHARED_DATA / "frvt_edge"
    r = subprocess.run(["env", "-i", "LD_LIBRARY_PATH=./lib", str(programs / "hostile11"), "./config",
                        str(edge) if edge.is_dir() else "-"], cwd=paths.ROOT, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert r.stderr == ""  # silent even on hostile input
    rows = _rows(r.stdout)
    assert rows["null-data"][0] == "3" and rows["depth-16"][0] == "3"  # RefuseInput
    assert rows["0-width"][0] == "3" and rows["no-images"][2] == "0"
    assert rows["mixed-good-and-bad"][2] == "3"  # one EyePair per image
    assert rows["match-failure-template"][:2] == ["7", "-1"]
    for bad in ("match-empty", "match-truncated", "match-wrong-version", "match-wrong-dimension", "match-nan",
                "match-random"):
        assert rows[bad][:2] == ["10", "-1"], bad
    if edge.is_dir():
        assert rows["edge-rotated90.ppm"][0] == "0" and rows["edge-rotated180.ppm"][0] == "0"
        assert int(rows["edge-multi-multi2.ppm"][2]) >= 2  # several people found


def test_ten_thousand_calls_keep_memory_flat(programs, built):
    """10,000 template + match calls through the bridge (tiny image: the bridge path, not the models)."""
    r = subprocess.run(["env", "-i", "LD_LIBRARY_PATH=./lib", str(programs / "hostile11"), "./config", "-",
                        "10000", "8"], cwd=paths.ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:]
    first_kb, last_kb = map(int, _rows(r.stdout)["soak-10000"][1:3])
    assert last_kb - first_kb < 20 * 1024


def test_matcher_fuzz_under_sanitizers(programs):
    r = subprocess.run([str(programs / "fuzz_match"), "100000", "3"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "bad_scores 0" in r.stdout and "ERROR: AddressSanitizer" not in r.stderr
