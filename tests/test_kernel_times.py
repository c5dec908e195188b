"""kernel_times: every kernel of a compiled model timed in sequence and alone, from config/."""

import re

import pytest

from frvt_submission import kernel_times


def test_lists_the_models_kernels_with_both_times(built, capsys):
    assert kernel_times.main(["--models", "recognizer", "--runs", "2", "--top", "4"]) == 0
    out = capsys.readouterr().out
    assert "recognizer (recognizer.so, cpu " in out and "ms per run uninstrumented" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| fused_") or ln.startswith("| all ")]
    assert len(rows) == 5, out  # the 4 slowest kernels, then the sum over all
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in rows]
    times = [float(c[2]) for c in cells[:-1]]
    assert times == sorted(times, reverse=True) and all(float(c[3]) > 0 for c in cells)
    kernels = int(re.match(r"all (\d+) kernels", cells[-1][0]).group(1))
    assert kernels > 4 and float(cells[-1][2]) >= sum(times)


def test_names_a_missing_config(tmp_path, capsys):
    assert kernel_times.main(["--config-dir", str(tmp_path), "--runs", "1"]) == 1
    assert str(tmp_path / "pipeline.json") in capsys.readouterr().out


def test_times_the_code_path_asked_for(built, capsys):
    """--code-path: the avx2 path's code (haswell) even on an AVX-512 host; a path the config lacks is a
    usage error naming the paths it has (it was said to be pipeline.json's code_path)."""
    assert kernel_times.main(["--models", "recognizer", "--runs", "1", "--top", "1", "--code-path", "avx2"]) == 0
    assert "recognizer (recognizer.so, cpu haswell," in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        kernel_times.main(["--models", "recognizer", "--runs", "1", "--code-path", "sse2"])
    assert exc.value.code == 2
    assert "--code-path 'sse2': " in capsys.readouterr().err
