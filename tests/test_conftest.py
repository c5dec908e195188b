"""conftest never reuses a stale build: make's rule over the sources of config/ and lib/."""

from __future__ import annotations

import os
import time

from conftest import stale_reason


def test_a_stale_build_is_not_reused(tmp_path):
    """conftest's rule: a source changed after config/ or lib/ was built means rebuild."""
    from conftest import stale_reason

    manifest = tmp_path / "config" / "models.json"
    manifest.parent.mkdir()
    manifest.write_text("{}")
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
