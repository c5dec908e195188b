"""A MetaSchedule builder that keeps its worker process between rounds.

TVM's LocalBuilder starts a new worker for every round of candidates (a guard
against a slow memory leak in long-lived workers). Each new worker imports TVM
and its tensor intrinsics before building anything: about 28 s here, against
5-10 s to build a round of 16 kernels, so most tuning time went to imports.
This builder reuses one worker for RECYCLE_AFTER rounds, then replaces it.
"""

from __future__ import annotations

RECYCLE_AFTER = 40  # rounds per worker: bounds the leak LocalBuilder guards against


def reusing_builder(timeout_sec: float, recycle_after: int = RECYCLE_AFTER):
    """A PyBuilder with LocalBuilder's build and export, on a worker kept across rounds."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.s_tir.meta_schedule.builder.local_builder import _serialize_params, _worker_func
    from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

    @derived_object
    class ReusingBuilder(PyBuilder):
        def __init__(self):
            super().__init__()
            self.pool, self.rounds = None, 0

        def build(self, build_inputs):
            if self.pool is None or self.rounds >= recycle_after:
                if self.pool is not None:
                    self.pool.shutdown()
                self.pool, self.rounds = PopenPoolExecutor(max_workers=1, timeout=timeout_sec), 0
            self.rounds += 1
            jobs = [(None, None, b.mod, b.target, _serialize_params(b.params)) for b in build_inputs]
            results = []
            for r in self.pool.map_with_error_catching(lambda job: _worker_func(*job), jobs):
                if r.status == StatusKind.COMPLETE:
                    results.append(BuilderResult(r.value, None))
                elif r.status == StatusKind.TIMEOUT:
                    results.append(BuilderResult(None, f"build timed out after {timeout_sec} s"))
                else:
                    results.append(BuilderResult(None, f"build failed: {r.value}"))
            return results

    return ReusingBuilder()
