"""Which compiled code path the library runs: by the CPU's features, or forced by pipeline.json."""

import shutil

import numpy as np
import pytest

from frvt_runtime.code_paths import choose_path, cpu_features
from frvt_runtime.errors import ConfigError
from frvt_submission import paths

# The default target's two paths, as compile writes their requirements (LLVM's names).
PATHS = {"avx512": {"requires": ["avx", "avx2", "avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl", "fma"]},
         "avx2": {"requires": ["avx", "avx2", "fma"]}}
ORDER = ["avx512", "avx2"]
ZEN3 = {"sse4_2", "avx", "avx2", "fma", "bmi2"}  # an AVX2-only CPU, as /proc/cpuinfo spells it
XEON_6140 = ZEN3 | {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}


def test_the_widest_path_the_cpu_has_is_chosen():
    assert choose_path(PATHS, ORDER, features=XEON_6140) == "avx512"
    assert choose_path(PATHS, ORDER, features=ZEN3) == "avx2"
    # AVX-512F alone (the OS or a hypervisor hiding BW/DQ/VL) is not enough for the AVX-512 code.
    assert choose_path(PATHS, ORDER, features=ZEN3 | {"avx512f"}) == "avx2"
    # The kernel's spelling with underscores matches LLVM's without.
    assert choose_path({"vnni": {"requires": ["avx512vnni"]}}, ["vnni"], features={"avx512_vnni"}) == "vnni"


def test_a_forced_path_runs_only_where_it_can():
    assert choose_path(PATHS, ORDER, "avx2", features=XEON_6140) == "avx2"
    with pytest.raises(ConfigError, match="code path 'avx512' needs avx512bw, avx512cd, avx512dq, avx512f, avx512vl"):
        choose_path(PATHS, ORDER, "avx512", features=ZEN3)
    with pytest.raises(ConfigError, match="code_path 'avx9' is not in models.json"):
        choose_path(PATHS, ORDER, "avx9", features=XEON_6140)


def test_no_runnable_path_is_a_config_error_naming_what_each_needs():
    with pytest.raises(ConfigError, match="no compiled code path runs on this CPU: avx512 needs .*; avx2 needs avx2, fma"):
        choose_path(PATHS, ORDER, features={"avx", "sse4_2"})


def test_cpu_features_read_the_kernels_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx2 avx512_vnni avx512f\n\nprocessor\t: 1\n")
    assert cpu_features(str(info)) == {"fpu", "sse42", "avx2", "avx512vnni", "avx512f"}
    assert cpu_features(str(tmp_path / "absent")) == set()  # then only a path requiring nothing runs


def test_each_path_the_host_runs_gives_the_same_templates_through_the_library(built, ppm_images, tmp_path):
    """The driver on config/ as shipped (the path this CPU picks) and on a copy forced to every
    other path this CPU runs: the same faces, eyes within 1 px, embeddings at cosine >= 0.9999."""
    from frvt_runtime.config_dir import path_names, read_manifest, running_path
    from frvt_submission.validation.code_paths import forced_root, template_parity
    from frvt_submission.validation.run import Runner
    from frvt_submission.validation.stand_in import unrunnable

    images = tmp_path / "list.txt"
    images.write_text("".join(f"{n} {ppm_images[n]} facemugshot\n" for n in ("obama", "biden", "32bit")))
    main = running_path(paths.DEFAULT_OUTPUTS.config)
    others = [p for p in path_names(read_manifest(paths.DEFAULT_OUTPUTS.config)) if p != main and p not in unrunnable(paths.DEFAULT_OUTPUTS.config)]
    root = paths.ROOT
    submitted = (paths.DEFAULT_OUTPUTS.config / "pipeline.json").read_text()
    outs = {}
    for path in [main] + others:
        run_root = root if path == main else forced_root(root, path, tmp_path / "roots" / path)
        out = tmp_path / "out" / path
        out.mkdir(parents=True)
        code, _, _, text = Runner(built["driver"], run_root, out, lambda m: None).run(
            "createTemplate", "enroll", images, 1, run_root / "config")
        assert code == 0, text
        outs[path] = out
    # The forced copies' config/ is hard-linked: the submitted pipeline.json must not change with them.
    assert (paths.DEFAULT_OUTPUTS.config / "pipeline.json").read_text() == submitted
    for path in others:
        r = template_parity(outs[main] / "enroll.log", outs[main] / "templates", outs[path] / "enroll.log",
                            outs[path] / "templates")
        assert r["ok"] and r["compared"] == 3, r
    if "avx512" in path_names(read_manifest(paths.DEFAULT_OUTPUTS.config)) and not unrunnable(paths.DEFAULT_OUTPUTS.config):
        assert main == "avx512" and others == ["avx2"]  # an AVX-512 host runs both


def test_template_parity_sees_a_different_embedding(tmp_path):
    """The comparison itself: a template nudged off its twin fails it."""
    from frvt_runtime.template import encode
    from frvt_submission.validation.code_paths import template_parity
    from frvt_submission.validation.logs import HEADERS

    rng = np.random.default_rng(0)
    vec = rng.normal(size=128).astype(np.float32)
    for name, v in (("a", vec), ("b", vec + 0.05 * rng.normal(size=128).astype(np.float32))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "t.template").write_bytes(encode(v))
        (tmp_path / f"{name}.log").write_text(HEADERS["template"] + "\nt img 528 0 1 1 10 20 30 40\n")
    r = template_parity(tmp_path / "a.log", tmp_path / "a", tmp_path / "b.log", tmp_path / "b")
    assert not r["ok"] and r["compared"] == 1 and 0.99 < r["min_cosine"] < 0.9999
    shutil.copyfile(tmp_path / "a" / "t.template", tmp_path / "b" / "t.template")
    assert template_parity(tmp_path / "a.log", tmp_path / "a", tmp_path / "b.log", tmp_path / "b")["ok"]
