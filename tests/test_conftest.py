"""conftest never reuses a stale build: make's rule over the sources of config/ and lib/."""

from __future__ import annotations

import json
import os
import time

from conftest import stale_reason


def _manifest(requires: list[str]) -> dict:
    """models.json of one code path that requires these features."""
    entry = {"file": "p/m.so", "cpu": "x"}
    return {"format": 2, "order": ["p"], "weights": {"file": "weights.npz", "sha256": ""},
            "paths": {"p": {"cpu": "x", "requires": requires, "models": {"detector": entry, "recognizer": entry}}}}


def test_a_stale_build_is_not_reused(tmp_path):
    """conftest's rule: a source changed after config/ or lib/ was built means rebuild."""
    manifest = tmp_path / "config" / "models.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps(_manifest([])))  # requires nothing: runnable here, whatever this CPU is
    lib = tmp_path / "lib.so"
    lib.write_bytes(b"x")
    old = time.time() - 10 * 365 * 86400
    for f in (manifest, lib):
        os.utime(f, (old, old))
    config_reason, lib_reason = stale_reason(manifest, lib)
    assert "changed after config/ was compiled" in config_reason
    assert "changed after lib/ was built" in lib_reason
    future = time.time() + 86400
    for f in (manifest, lib):
        os.utime(f, (future, future))
    assert stale_reason(manifest, lib) == (None, None)
    assert stale_reason(tmp_path / "none.json", tmp_path / "none.so") == ("config/ is not built", "lib/ is not built")


def test_a_config_for_a_cpu_this_host_lacks_is_rebuilt(tmp_path, monkeypatch):
    from frvt_submission.compile import isa_class

    # An AVX2-only host, whatever this one is: every build is limited to skylake-avx512's features
    # (resolve_target), so on an AVX-512 host no CPU name would be foreign.
    avx2_only = {f for f in isa_class.host_features() if not f.startswith(("avx512", "amx"))} | {"avx2", "fma"}
    monkeypatch.setattr(isa_class, "host_features", lambda: avx2_only)
    manifest = tmp_path / "config" / "models.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps(_manifest(["avx2", "avx512f", "fma"])))
    lib = tmp_path / "lib.so"
    lib.write_bytes(b"x")
    future = time.time() + 86400
    for f in (manifest, lib):
        os.utime(f, (future, future))
    config_reason, _ = stale_reason(manifest, lib)
    assert config_reason and "which this CPU lacks" in config_reason
    manifest.write_text("{}")
    os.utime(manifest, (future, future))
    assert "unreadable" in stale_reason(manifest, lib)[0]
