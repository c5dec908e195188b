"""The ISA check that decides whether validation and timing must run a stand-in build for this host."""

import json
from pathlib import Path

from frvt_submission.validation.stand_in import build_facts, unrunnable


def _config(tmp_path, cpus):
    """A config/ with one path per CPU, named by it, requiring what LLVM says that CPU has."""
    import tvm

    from frvt_submission.compile.isa_class import vector_features

    paths = {}
    for cpu in cpus:
        models = {name: {"file": f"{cpu}/{name}.so", "sha256": "0" * 64, "outputs": [], "cpu": cpu,
                         "isa_class": None, "tuned": False, "records": "", "unscheduled": []}
                  for name in ("detector", "recognizer")}
        target = tvm.target.Target({"kind": "llvm", "mcpu": cpu, "num-cores": 1})
        paths[cpu] = {"cpu": cpu, "isa_class": None, "requires": vector_features(target), "models": models}
    (tmp_path / "models.json").write_text(json.dumps({"format": 2, "order": list(cpus), "paths": paths,
                                                      "weights": {"file": "weights.npz", "sha256": "0" * 64}}))
    return tmp_path


def test_a_build_this_cpu_lacks_the_instructions_for_is_named_with_what_it_lacks(tmp_path):
    flags = Path("/proc/cpuinfo").read_text().split()
    config = _config(tmp_path, ["skylake-avx512", "haswell"])
    found = unrunnable(config)
    if "avx512f" in flags:
        assert found == {}
    else:
        assert list(found) == ["skylake-avx512"] and "avx512f" in found["skylake-avx512"]
    if "avx2" in flags and "fma" in flags:  # haswell code runs on every AVX2 + FMA CPU
        assert "haswell" not in found


def test_build_facts_say_what_each_model_was_built_for(tmp_path):
    config = _config(tmp_path, ["skylake-avx512", "haswell"])
    lines = build_facts(config)
    assert lines[0].startswith("code path skylake-avx512: cpu skylake-avx512") and "avx512f" in lines[0]
    assert lines[1].startswith("  detector: skylake-avx512/detector.so sha256") and "tuned False" in lines[1]
