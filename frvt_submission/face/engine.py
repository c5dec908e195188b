"""Run a compiled model: the TVM runtime alone (the submission path) or onnxruntime (reference)."""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError

_runtime_loaded: Path | None = None


def default_runtime_dir() -> Path | None:
    """Where the apache-tvm wheel keeps libtvm_runtime.so, found without importing tvm (the compiler)."""
    spec = importlib.util.find_spec("tvm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "lib"


def load_tvm_runtime(runtime_dir: Path | None = None) -> None:
    """Load libtvm_runtime.so globally once: it registers the Relax VM that exported models need."""
    global _runtime_loaded
    if _runtime_loaded is not None:
        return
    if "tvm" in sys.modules:
        # The compiler library (imported by build tools) already holds a runtime and
        # the VM; a second libtvm_runtime.so in the process crashes intermittently.
        _runtime_loaded = Path(sys.modules["tvm"].__file__)
        return
    runtime_dir = runtime_dir or default_runtime_dir()
    lib = Path(runtime_dir or ".") / "libtvm_runtime.so"
    if not lib.is_file():
        raise ConfigError(f"TVM runtime library not found: {lib}")
    import tvm_ffi  # noqa: F401  (loads libtvm_ffi.so, which libtvm_runtime.so needs)

    ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    _runtime_loaded = lib


ALIGNMENT = 64  # TVM kernels assume 64-byte aligned inputs (AVX-512 aligned loads)


def aligned_empty(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A C-contiguous array whose data starts on an ALIGNMENT boundary (numpy only promises 16)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % ALIGNMENT
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


class TvmModel:
    """An exported Relax VM module (.so) called with one float32 NCHW array."""

    def __init__(self, so_path: Path, output_names: list[str], runtime_dir: Path | None = None):
        load_tvm_runtime(runtime_dir)
        import tvm_ffi

        try:
            module = tvm_ffi.load_module(str(so_path))
            vm = module["vm_load_executable"]()
            # (device type kDLCPU=1, device id 0, allocator kind 2 = pooled)
            vm["vm_initialization"](1, 0, 2)
            self._main = vm["main"]
        except Exception as exc:
            raise ConfigError(f"cannot load compiled model {so_path}: {exc}") from None
        self._keep = (module, vm)  # the VM must outlive the function handle
        self.output_names = list(output_names)
        self._input: np.ndarray | None = None
        self._tensor = None

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        import tvm_ffi

        if self._input is None or self._input.shape != x.shape:
            # One aligned input buffer, reused: misaligned numpy memory crashed the kernels.
            self._input = aligned_empty(x.shape)
            self._tensor = tvm_ffi.from_dlpack(self._input)
        np.copyto(self._input, x, casting="same_kind")
        out = self._main(self._tensor)
        outs = [out] if hasattr(out, "__dlpack__") else list(out)
        if len(outs) != len(self.output_names):
            raise ConfigError(f"model returned {len(outs)} outputs, manifest lists {len(self.output_names)}")
        # Copy: the VM may reuse its output buffers on the next call.
        return {n: np.from_dlpack(t).copy() for n, t in zip(self.output_names, outs)}


class OrtModel:
    """onnxruntime on one thread: the numerical reference and benchmark peer, never shipped."""

    def __init__(self, onnx_path: Path):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self._sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        self._input = self._sess.get_inputs()[0].name
        self.output_names = [o.name for o in self._sess.get_outputs()]

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        outs = self._sess.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})
        return dict(zip(self.output_names, outs))
