"""Process settings inside the library: one thread everywhere, nothing printed. Runs before numpy loads."""

from __future__ import annotations

import os
import sys
import warnings

# Every pool we know of: OpenBLAS starts its threads when numpy loads, so these
# must be set before the first import of numpy; TVM reads its own at load too.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "TVM_NUM_THREADS")


def prepare() -> None:
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    sys.dont_write_bytecode = True  # config/ and lib/ are read-only at NIST
    warnings.simplefilter("ignore")
    # Python-level output goes nowhere: NIST requires silence on stdout/stderr.
    devnull = open(os.devnull, "w")
    sys.stdout = sys.stderr = devnull

