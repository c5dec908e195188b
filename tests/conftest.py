"""Shared fixtures: settings, registry test images, optional ../shared/data, compiled config."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from frvt_submission import paths


@pytest.fixture(scope="session")
def settings():
    from frvt_submission.config import load_settings

    return load_settings(paths.SETTINGS_FILE)


@pytest.fixture(scope="session")
def test_images():
    from frvt_submission.testdata import test_images

    return test_images()


@pytest.fixture(scope="session")
def shared_data():
    if not paths.SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return paths.SHARED_DATA


@pytest.fixture(scope="session")
def reference_pipeline(settings):
    """The onnxruntime reference pipeline (same pre/post-processing as the submission)."""
    from frvt_submission.reference import reference_pipeline

    return reference_pipeline(settings)


def one_path_manifest(models: dict[str, dict], path: str = "avx512", requires=(), **facts) -> dict:
    """models.json of a config/ with one code path holding these model entries (file names get the
    path's folder), for tests that need a manifest and no build."""
    entries = {name: {**e, "file": f"{path}/{e.get('file', name + '.so')}"} for name, e in models.items()}
    return {"format": 2, "order": [path], "weights": {"file": "weights.npz", "sha256": "0" * 64},
            "paths": {path: {"cpu": facts.get("cpu", "znver4"), "isa_class": facts.get("isa_class", "avx512"),
                             "requires": list(requires), "models": entries}}}


def edited_runtime_module(lib: Path, name: str, edit) -> None:
    """In a copy of lib/, frvt_runtime.<name> becomes its repository source passed through edit.
    lib/ ships byte-code only; the copy's .pyc (maybe a hard link into the real lib/) is removed,
    never written through, and the edited .py imports in its place."""
    text = (paths.ROOT / "frvt_runtime" / f"{name}.py").read_text()
    edited = edit(text)
    assert edited != text, f"the edit changed nothing in frvt_runtime/{name}.py"
    target = next(lib.glob("python/lib/python3*/site-packages")) / "frvt_runtime" / f"{name}.py"
    target.with_suffix(".pyc").unlink()
    target.write_text(edited)


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _newer_source(target, sources) -> str | None:
    """The first source file changed after target was written (make's rule), or None."""
    built_at = target.stat().st_mtime
    for src in sources:
        for f in ([src] if src.is_file() else sorted(src.rglob("*")) if src.is_dir() else []):
            if f.is_file() and "__pycache__" not in f.parts and f.stat().st_mtime > built_at:
                return str(f.relative_to(paths.ROOT))
    return None


def onnx_model(name: str, nodes, x_shape, outputs, inits, opset: int = 17):
    """A toy ONNX model: nodes on one float32 input x of x_shape; outputs [(name, shape)] of float32;
    inits the initializer tensors (IR version 8, which the pinned onnxruntime reads)."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in outputs],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def prepared_kernels(onnx_path, spec, passes, original=None) -> list[str]:
    """The kernels of a model prepared for this host with the named graph passes."""
    from frvt_submission.compile.tvm_build import import_onnx, prepare, resolve_target

    mod = prepare(import_onnx(onnx_path, spec, original, passes), resolve_target("host"), spec.layout, passes)
    return [gv.name_hint for gv, _ in mod.functions_items()]


@functools.lru_cache(maxsize=1)
def make_sources() -> dict[str, list[Path]]:
    """What the Makefile says each step reads (COMPILE_SRC, BUILD_SRC): one list, the Makefile's,
    read from make's own database (make -pnq runs nothing)."""
    r = _run(["make", "-pnq"], cwd=paths.ROOT)
    found = {}
    for line in r.stdout.splitlines():
        name, sep, value = line.partition(" := ")
        if sep and name in ("COMPILE_SRC", "BUILD_SRC"):
            found[name] = [paths.ROOT / f for f in value.split()]
    assert set(found) == {"COMPILE_SRC", "BUILD_SRC"}, f"make -pnq lists no step sources:\n{r.stderr[-1000:]}"
    return found


def stale_reason(manifest, lib) -> tuple[str | None, str | None]:
    """Why config/ and lib/ must be rebuilt before the tests use them (None: current): a file of the
    step's Makefile sources, or the settings, changed after it was built (make's rule), or config/
    was built for a CPU this host cannot run."""
    from frvt_submission.validation.stand_in import cannot_run
    from frvt_runtime.errors import ConfigError

    sources = make_sources()
    try:
        lacks = cannot_run(manifest.parent) if manifest.is_file() else []
    except ConfigError as exc:
        lacks = [f"(unreadable: {exc})"]
    if not manifest.is_file():
        config = "config/ is not built"
    elif lacks:
        config = f"config/ uses {', '.join(lacks)}, which this CPU lacks"
    else:
        newer = _newer_source(manifest, [paths.SETTINGS_FILE] + sources["COMPILE_SRC"])
        config = newer and f"{newer} changed after config/ was compiled"
    if not lib.is_file():
        lib_reason = "lib/ is not built"
    else:
        newer = _newer_source(lib, [paths.SETTINGS_FILE] + sources["BUILD_SRC"])
        lib_reason = newer and f"{newer} changed after lib/ was built"
    return config, lib_reason


@pytest.fixture(scope="session")
def built(settings, test_images):
    """config/ + lib/ + doc/ as the sources say today (rebuilt when missing, stale, or for a CPU
    this host cannot run; never reused blindly) and the driver."""
    from frvt_runtime.config_dir import MANIFEST_FILE

    lib = paths.DEFAULT_OUTPUTS.lib / settings.submission.library_name
    config_reason, lib_reason = stale_reason(paths.DEFAULT_OUTPUTS.config / MANIFEST_FILE, lib)
    if config_reason:
        print(f"\nconftest: compiling, {config_reason}")
        r = _run([sys.executable, "-m", "frvt_submission", "compile"])
        assert r.returncode == 0, r.stdout + r.stderr
    if config_reason or lib_reason:
        print(f"conftest: building lib/, {lib_reason or 'config/ was recompiled'}")
        r = _run([sys.executable, "-m", "frvt_submission", "build"])
        assert r.returncode == 0, r.stdout + r.stderr
    from frvt_submission.validation.run import build_driver

    driver = build_driver(lib, paths.BUILD / "test-driver", lambda m: None)
    return {"lib": lib, "driver": driver}


@pytest.fixture(scope="session")
def ppm_images(tmp_path_factory, test_images):
    from frvt_submission.imagefile import read_image
    from frvt_submission.validation.inputs import write_pnm

    d = tmp_path_factory.mktemp("ppm")
    return {p.stem: write_pnm(read_image(p), d / p.stem) for p in sorted(test_images.iterdir()) if p.suffix != ".csv"}
