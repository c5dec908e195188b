"""Long silent calls report progress: heartbeat lines while the block runs, none after it ends."""

from __future__ import annotations

import time

from frvt_submission.progress import heartbeat


def test_heartbeat_reports_while_running_and_stops_after():
    lines: list[str] = []
    with heartbeat(lines.append, "compiling", every=0.05):
        time.sleep(0.32)
    n = len(lines)
    assert 4 <= n <= 7 and all(ln.startswith("compiling: still running (") for ln in lines), lines
    time.sleep(0.15)
    assert len(lines) == n  # the thread ended with the block


def test_heartbeat_is_silent_for_a_quick_call():
    lines: list[str] = []
    with heartbeat(lines.append, "quick", every=0.5):
        pass
    assert lines == []
