"""initialize() fails on a config its models contradict; MemoryError is code 13; the TVM runtime comes from lib/ only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from frvt_submission import paths
from frvt_runtime.config_dir import MANIFEST_FILE, PIPELINE_FILE, sha256_of

from conftest import edited_runtime_module

CONFIG_ERROR, UNKNOWN_ERROR, MEMORY_ERROR = 2, 1, 13


@pytest.fixture
def in_process_service(monkeypatch):
    """frvt_runtime.service bound to a CFFI view of the bridge header (no library, no TVM): its
    guard and error mapping run exactly as in the library, on structs built here."""
    import cffi

    from frvt_runtime import service

    ffi = cffi.FFI()
    ffi.cdef((paths.ROOT / "cpp_api" / "bridge" / "frvt_bridge_decls.h").read_text())
    monkeypatch.setattr(service, "ffi", ffi)
    monkeypatch.setattr(service, "lib", ffi.dlopen(None))  # the header's #define constants
    return service


# -- libtvm_runtime.so from the library's folder only ----------------------------------------------------
@pytest.mark.parametrize("lib_dir", [None, "", "lib"])
def test_initialize_needs_the_library_folder_as_an_absolute_path(in_process_service, lib_dir):
    """No folder, or one relative to NIST's working directory, is a ConfigError before any model loads."""
    service, ffi = in_process_service, in_process_service.ffi
    limits, status = ffi.new("frvtb_limits *"), ffi.new("frvtb_status *")
    keep = [ffi.new("char[]", str(paths.DEFAULT_OUTPUTS.config).encode()),
            ffi.NULL if lib_dir is None else ffi.new("char[]", lib_dir.encode())]
    rc = service.initialize(keep[0], keep[1], limits, status)
    assert (rc, status.code) == (service.lib.FRVTB_OK, CONFIG_ERROR)
    assert b"the library's folder is unknown" in ffi.string(status.info)


PLANTED = """
import sys
from pathlib import Path
from frvt_runtime.config_dir import load_models, read_manifest, running_path
from frvt_runtime.errors import ConfigError
config, arg = Path(sys.argv[1]), sys.argv[2]
try:
    manifest = read_manifest(config)
    load_models(config, manifest, running_path(config, manifest), ["recognizer"], None if arg == "None" else Path(arg))
    print("loaded", end=" ")
except ConfigError as exc:
    print("ConfigError", end=" ")
    print(exc, file=sys.stderr)
maps = open("/proc/self/maps").read()
print("planted-mapped" if str(Path.cwd() / "libtvm_runtime.so") in maps else "planted-unmapped")
"""


@pytest.mark.parametrize("runtime_dir,want", [("None", "ConfigError planted-unmapped"),
                                              (".", "ConfigError planted-unmapped"),
                                              ("lib", "loaded planted-unmapped")])
def test_the_engine_never_loads_the_runtime_from_the_working_directory(built, tmp_path, runtime_dir, want):
    """A real libtvm_runtime.so planted in the cwd of a fresh process (no TVM loaded yet), with a
    relative LD_LIBRARY_PATH as NIST's ./lib: neither no folder nor a relative one loads it (a bare
    or relative name would reach it through the loader's search); the library's absolute folder works."""
    work = tmp_path / "cwd"
    work.mkdir()
    shutil.copyfile(built["lib"].parent / "libtvm_runtime.so", work / "libtvm_runtime.so")
    arg = str(built["lib"].parent.resolve()) if runtime_dir == "lib" else runtime_dir
    r = subprocess.run([sys.executable, "-c", PLANTED, str(paths.DEFAULT_OUTPUTS.config), arg], cwd=work,
                       env={"PYTHONPATH": str(paths.ROOT), "PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "."},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == want, r.stderr
    if want.startswith("ConfigError"):
        assert "never the working directory" in r.stderr


# -- broken config/ copies, each one still passing the SHA-256 check --------------------------------
def _edit_json(cfg: Path, name: str, edit: Callable[[dict], None]) -> None:
    data = json.loads((cfg / name).read_text())
    edit(data)
    (cfg / name).write_text(json.dumps(data, indent=1))


def _slots(m: dict) -> dict:
    """The entries of the code path this CPU runs, in a parsed models.json (the one the edits must hit)."""
    from frvt_runtime.config_dir import running_path

    return m["paths"][running_path(paths.DEFAULT_OUTPUTS.config, m)]["models"]


def _rehash(cfg: Path, slot: str) -> None:
    _edit_json(cfg, MANIFEST_FILE, lambda m: _slots(m)[slot].update(sha256=sha256_of(cfg / _slots(m)[slot]["file"])))


def _swap_model(cfg: Path, slot: str, source: str) -> None:
    """Put config/<path>/<source>.so where <slot>.so was, with models.json's hash updated: the hash check
    passes, so only the probe can notice the model does not fit its slot."""
    slots = _slots(json.loads((cfg / MANIFEST_FILE).read_text()))
    shutil.copyfile(cfg / slots[source]["file"], cfg / slots[slot]["file"])
    _edit_json(cfg, MANIFEST_FILE, lambda m: _slots(m)[slot].update(params=_slots(m)[source].get("params", [])))
    _rehash(cfg, slot)


def _swap_outputs(names: list[str], a: str, b: str) -> None:
    i, j = names.index(a), names.index(b)
    names[i], names[j] = names[j], names[i]


# case -> (edit of the copied config/, text the driver's stderr must hold)
BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "renamed detector output": (
        lambda c: _edit_json(c, MANIFEST_FILE, lambda m: _slots(m)["detector"]["outputs"].__setitem__(0, "renamed")),
        "detector output 'cls_8' missing from the model's outputs (has renamed, cls_16"),
    "wrong embedding_size": (
        lambda c: _edit_json(c, PIPELINE_FILE, lambda p: p["recognizer"].update(embedding_size=512)),
        "recognizer.embedding_size is 512 in pipeline.json but the model outputs 128 values"),
    "detector slot holds the recognizer": (
        lambda c: _swap_model(c, "detector", "recognizer"),
        "detector model detector.so fails on a blank 640x640 image (detector.input_size in pipeline.json)"),
    "recognizer slot holds the detector": (
        lambda c: _swap_model(c, "recognizer", "detector"),
        "recognizer model recognizer.so fails on a blank 112x112 image (recognizer.input_size in pipeline.json)"),
    "extra recognizer output": (
        lambda c: _edit_json(c, MANIFEST_FILE, lambda m: _slots(m)["recognizer"]["outputs"].append("extra")),
        "recognizer.outputs in models.json lists 2 name(s) ['fc1', 'extra'] but the model returns 1 output(s)"),
    "outputs in the wrong order": (
        lambda c: _edit_json(c, MANIFEST_FILE, lambda m: _swap_outputs(_slots(m)["detector"]["outputs"], "cls_8", "bbox_8")),
        "detector output 'cls_8' has shape (1, 6400, 4) (25600 values) but pipeline.json detector.input_size "
        "640x640 at stride 8"),
    "stride the model lacks": (
        lambda c: _edit_json(c, PIPELINE_FILE, lambda p: p["detector"].update(strides=[8, 16, 160])),
        "detector output 'cls_160' missing from the model's outputs"),
    "resampling kernels slot holds the detector": (
        lambda c: _swap_model(c, "resample", "detector"),
        "cannot load resampling kernels"),
    "detector input_size the model lacks": (
        lambda c: _edit_json(c, PIPELINE_FILE, lambda p: p["detector"].update(input_size=[640, 672])),
        "detector model detector.so fails on a blank 640x672 image"),
    "a smaller detector size without its model": (
        lambda c: _edit_json(c, MANIFEST_FILE, lambda m: _slots(m).pop("detector_320x320")),
        "no entry for detector_320x320, which pipeline.json's detector.smaller_sizes"),
    "a code path models.json lacks": (
        lambda c: _edit_json(c, PIPELINE_FILE, lambda p: p["pipeline"].update(code_path="avx9")),
        "pipeline.json's code_path 'avx9' is not in models.json (paths: avx512, avx2)"),
    "a weight weights.npz lacks": (
        lambda c: _edit_json(c, MANIFEST_FILE, lambda m: _slots(m)["recognizer"]["params"].__setitem__(0, "0" * 24)),
        f"recognizer needs weight {'0' * 24}, which weights.npz lacks"),
}


def _driver_run(built, cfg: Path, image: Path, out: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """One createTemplate run as NIST does it; the log's row for the image, if any was written."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "list.txt").write_text(f"x {image} facemugshot\n")
    r = subprocess.run([str(built["driver"]), "createTemplate", "-x", "enroll", "-c", str(cfg), "-o", str(out),
                        "-h", "enroll", "-i", str(out / "list.txt"), "-t", "1", "-j", str(out)],
                       env={"LD_LIBRARY_PATH": str(built["lib"].parent), "PATH": "/usr/bin:/bin"}, cwd=out,
                       capture_output=True, text=True)
    log = out / "enroll.log"
    rows = log.read_text().splitlines()[1:] if log.is_file() else []
    return r, rows[0].split() if rows else []


def test_an_untouched_copy_initializes(built, ppm_images, tmp_path):
    """The control: copying config/ (and re-hashing an unchanged file) breaks nothing by itself."""
    cfg = tmp_path / "cfg"
    shutil.copytree(paths.DEFAULT_OUTPUTS.config, cfg)
    _edit_json(cfg, MANIFEST_FILE, lambda m: None)  # rewritten as the broken cases rewrite it
    _rehash(cfg, "detector")
    r, row = _driver_run(built, cfg, ppm_images["obama"], tmp_path / "o")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert row[3] == "0"  # returnCode column


def test_a_config_folder_whose_name_is_not_utf8_initializes(built, ppm_images, tmp_path):
    """Linux folder names are bytes: a config/ under a name with a non-UTF-8 byte must work
    (the bridge's paths were decoded as UTF-8: UnicodeDecodeError, so UnknownError)."""
    import os

    cfg = os.fsencode(tmp_path) + b"/cfg\xff\xfe"
    shutil.copytree(paths.DEFAULT_OUTPUTS.config, os.fsdecode(cfg))
    out = tmp_path / "o"
    out.mkdir()
    (out / "list.txt").write_text(f"x {ppm_images['obama']} facemugshot\n")
    r = subprocess.run([os.fsencode(built["driver"]), b"createTemplate", b"-x", b"enroll", b"-c", cfg,
                        b"-o", os.fsencode(out), b"-h", b"enroll", b"-i", os.fsencode(out / "list.txt"),
                        b"-t", b"1", b"-j", os.fsencode(out)],
                       env={"LD_LIBRARY_PATH": str(built["lib"].parent), "PATH": "/usr/bin:/bin"}, cwd=out,
                       capture_output=True)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert (out / "enroll.log").read_text().splitlines()[1].split()[3] == "0"


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_model_that_contradicts_the_config_fails_initialize(built, ppm_images, tmp_path, case):
    """Each mismatch is ConfigError at initialize() naming the field, not UnknownError on every later call."""
    edit, needle = BROKEN[case]
    cfg = tmp_path / "cfg"
    shutil.copytree(paths.DEFAULT_OUTPUTS.config, cfg)
    edit(cfg)
    r, row = _driver_run(built, cfg, ppm_images["obama"], tmp_path / "o")
    assert r.returncode == 1 and row == [], r.stderr
    assert f"initialize() returned {CONFIG_ERROR} " in r.stderr and needle in r.stderr, r.stderr


# -- MemoryError -> ReturnCode::MemoryError ------------------------------------------------------------
def _stub_pipeline():
    """The real FacePipeline and settings over model stand-ins (the stages are what is patched)."""
    from frvt_runtime.config import load_runtime
    from frvt_runtime.detect import Detector
    from frvt_runtime.embed import Recognizer
    from frvt_runtime.pipeline import FacePipeline

    s = load_runtime(paths.DEFAULT_OUTPUTS.config / PIPELINE_FILE)
    never = lambda image: pytest.fail("the patched stage should have raised first")  # noqa: E731
    return FacePipeline(s, Detector(s.detector, {size: never for size in s.detector.sizes()}),
                        Recognizer(s.recognizer, never))


def test_error_mapping():
    from frvt_runtime.errors import ConfigError
    from frvt_runtime.service import error_status

    assert error_status(MemoryError())[::2] == (MEMORY_ERROR, True)
    assert error_status(ConfigError("x")) == (CONFIG_ERROR, "ConfigError: x", True)
    code, info, chosen = error_status(ValueError("y"))
    assert (code, chosen) == (UNKNOWN_ERROR, False) and info.startswith("ValueError: y")


def test_memory_error_in_a_stage_is_return_code_13(in_process_service, monkeypatch):
    """numpy failing to allocate (its _ArrayMemoryError is a MemoryError) inside detection."""
    from frvt_runtime.detect import Detector

    service, ffi = in_process_service, in_process_service.ffi
    monkeypatch.setitem(service._state, "pipeline", _stub_pipeline())
    monkeypatch.setattr(Detector, "detect_with_fallback", lambda self, image: np.empty(1 << 62, np.uint8))
    pixels = ffi.new("uint8_t[]", bytes(range(256)) * (64 * 64 * 3 // 256))
    images = ffi.new("frvtb_image[1]", [{"width": 64, "height": 64, "depth": 24, "data": pixels,
                                         "size": 64 * 64 * 3}])
    templ, size = ffi.new("uint8_t[]", 4096), ffi.new("size_t *")
    eyes, status = ffi.new("frvtb_eyes[1]"), ffi.new("frvtb_status *")
    rc = service.create_template(images, 1, 0, templ, 4096, size, eyes, status)
    info = ffi.string(status.info).decode()
    assert rc == service.lib.FRVTB_OK and status.code == MEMORY_ERROR, (rc, status.code, info)
    assert info.startswith("MemoryError: Unable to allocate")


def test_memory_error_at_initialize_is_return_code_13(in_process_service, monkeypatch):
    from frvt_runtime.pipeline import FacePipeline

    def no_memory(cls, *args):
        raise MemoryError()

    service, ffi = in_process_service, in_process_service.ffi
    monkeypatch.setattr(FacePipeline, "from_config_dir", classmethod(no_memory))
    limits, status = ffi.new("frvtb_limits *"), ffi.new("frvtb_status *")
    keep = [ffi.new("char[]", str(paths.DEFAULT_OUTPUTS.config).encode()), ffi.new("char[]", str(paths.DEFAULT_OUTPUTS.lib).encode())]
    rc = service.initialize(keep[0], keep[1], limits, status)
    assert (rc, status.code, ffi.string(status.info)) == (service.lib.FRVTB_OK, MEMORY_ERROR, b"MemoryError")


# -- initialize()'s cost in the timing report ---------------------------------------------------------
def test_timing_summary_reports_initialize(tmp_path):
    from frvt_submission.validation.timing import summarise_timing

    (tmp_path / "timing.log").write_text("image width height depth ms returnCode stages\na.ppm 480 600 24 40.5 0 -\n")
    (tmp_path / "timing_match.log").write_text("pairs calls totalMs usPerCall\n2 1000 0.6 0.6\n")
    res = tmp_path / "timing_resources.log"
    res.write_text("maxThreads peakRssKB initMs initRssKB\n1 389128 1714.51 123996\n")
    r = summarise_timing(tmp_path, 1000.0, 0.1)
    assert r["errors"] == [] and r["init_ms"] == pytest.approx(1714.51)
    assert r["init_rss_mb"] == pytest.approx(123996 / 1024) and r["peak_rss_mb"] == pytest.approx(389128 / 1024)
    res.write_text("maxThreads peakRssKB\n1 389128\n")  # a driver from before the columns
    r = summarise_timing(tmp_path, 1000.0, 0.1)
    assert np.isnan(r["init_ms"]) and np.isnan(r["init_rss_mb"]) and r["errors"] == []


def test_the_runtimes_bridge_abi_is_the_headers():
    """frvt_runtime.service.BRIDGE_ABI is the FRVTB_ABI_VERSION the bridge header declares: a change
    of one without the other fails here, not at NIST."""
    import re

    from frvt_runtime.service import BRIDGE_ABI

    header = (paths.ROOT / "cpp_api" / "bridge" / "frvt_bridge_decls.h").read_text()
    assert int(re.search(r"#define FRVTB_ABI_VERSION (\d+)", header).group(1)) == BRIDGE_ABI


def test_a_runtime_of_another_bridge_abi_in_lib_fails_initialize_naming_both(built, ppm_images, tmp_path):
    """lib/ whose bundled runtime is from another build (here: its BRIDGE_ABI edited to 1) fails
    initialize() with a ConfigError that names both ABI versions, instead of running on."""
    import re

    from frvt_runtime.service import BRIDGE_ABI

    lib = tmp_path / "lib"
    shutil.copytree(built["lib"].parent, lib, symlinks=True)
    edited_runtime_module(lib, "service", lambda text: re.sub(r"^BRIDGE_ABI = \d+$", "BRIDGE_ABI = 1", text, flags=re.M))
    out = tmp_path / "o"
    out.mkdir()
    (out / "list.txt").write_text(f"x {ppm_images['obama']} facemugshot\n")
    r = subprocess.run([str(built["driver"]), "createTemplate", "-x", "enroll", "-c", str(paths.DEFAULT_OUTPUTS.config),
                        "-o", str(out), "-h", "enroll", "-i", str(out / "list.txt"), "-t", "1", "-j", str(out)],
                       env={"LD_LIBRARY_PATH": str(lib), "PATH": "/usr/bin:/bin"}, cwd=out,
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert f"initialize() returned {CONFIG_ERROR} " in r.stderr
    assert f"implements bridge ABI 1 but the library was built for ABI {BRIDGE_ABI}" in r.stderr, r.stderr
