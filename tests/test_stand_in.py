"""The ISA check that decides whether validation and timing must run a stand-in build for this host."""

import json
from pathlib import Path

from frvt_submission.validation.stand_in import build_facts, unrunnable


def _config(tmp_path, cpus):
    manifest = {name: {"file": f"{name}.so", "sha256": "0" * 64, "outputs": [], "cpu": cpu,
                       "isa_class": None, "tuned": False, "records": "", "unscheduled": []}
                for name, cpu in cpus.items()}
    (tmp_path / "models.json").write_text(json.dumps(manifest))
    return tmp_path


def test_a_build_this_cpu_lacks_the_instructions_for_is_named_with_what_it_lacks(tmp_path):
    flags = Path("/proc/cpuinfo").read_text().split()
    config = _config(tmp_path, {"detector": "skylake-avx512", "recognizer": "haswell"})
    found = unrunnable(config)
    if "avx512f" in flags:
        assert found == {}
    else:
        assert list(found) == ["detector.so"] and "avx512f" in found["detector.so"]
    if "avx2" in flags and "fma" in flags:  # haswell code runs on every AVX2 + FMA CPU
        assert "recognizer.so" not in found


def test_build_facts_say_what_each_model_was_built_for(tmp_path):
    config = _config(tmp_path, {"detector": "skylake-avx512", "recognizer": "haswell"})
    lines = build_facts(config)
    assert lines[0].startswith("detector: detector.so cpu skylake-avx512") and "tuned False" in lines[0]
