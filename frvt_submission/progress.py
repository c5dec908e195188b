"""Progress on long steps: a line every few seconds while a silent call (TVM build, pip, cmake, tar) runs."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

EVERY_S = 8.0  # well inside the ~10 s a user waits before thinking a step hangs


@contextmanager
def heartbeat(log, what: str, every: float = EVERY_S):
    """While the block runs, log '<what>: still running (N s)' every `every` seconds."""
    done = threading.Event()
    t0 = time.monotonic()

    def beat():
        while not done.wait(every):
            log(f"{what}: still running ({time.monotonic() - t0:.0f} s)")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
