"""Run a compiled model on the pipeline's uint8 HxWx3 RGB image with the TVM runtime alone.

An engine is a callable image -> {output name: array}. The compiled TVM graph
converts the image itself (compile.image_input); the reference and benchmark
engines over the plain ONNX graph live in the tooling (frvt_submission.reference).
"""

from __future__ import annotations

import ctypes
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ConfigError

Engine = Callable[[np.ndarray], dict[str, np.ndarray]]

RUNTIME_LIB = "libtvm_runtime.so"
_runtime_loaded: Path | None = None


def load_tvm_runtime(runtime_dir: Path | None) -> None:
    """Load runtime_dir/libtvm_runtime.so globally once: it registers the Relax VM that exported
    models need. The library passes its own folder; there is no search, and never the working
    directory, which at NIST is whatever folder the driver runs in."""
    global _runtime_loaded
    if _runtime_loaded is not None:
        return
    if "tvm" in sys.modules:
        # The compiler library (imported by build tools) already holds a runtime and
        # the VM; a second libtvm_runtime.so in the process crashes intermittently.
        _runtime_loaded = Path(sys.modules["tvm"].__file__)
        return
    if runtime_dir is None or not Path(runtime_dir).is_absolute():
        raise ConfigError(f"no folder given for {RUNTIME_LIB} (got {runtime_dir!r}; an absolute path is "
                          f"needed: the library's own folder, never the working directory)")
    lib = Path(runtime_dir) / RUNTIME_LIB
    if not lib.is_file():
        raise ConfigError(f"TVM runtime library not found: {lib}")
    import tvm_ffi  # noqa: F401  (loads libtvm_ffi.so, which libtvm_runtime.so needs)

    try:
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise ConfigError(f"cannot load {lib}: {exc}") from None
    _runtime_loaded = lib


ALIGNMENT = 64  # TVM kernels assume 64-byte aligned inputs (AVX-512 aligned loads)


def aligned_empty(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A C-contiguous array whose data starts on an ALIGNMENT boundary (numpy only promises 16)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % ALIGNMENT
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


@contextmanager
def utf8_path(path: Path):
    """A name TVM can open for path. TVM takes file names as UTF-8 strings; a folder name with
    bytes that are not UTF-8 (fsdecoded to surrogates) cannot be one, so such a file is opened
    here and handed over as /proc/self/fd/N/<file>, which names the same file in ASCII (the file
    name itself is config/'s own, and TVM reads the format from its extension)."""
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        fd = os.open(Path(path).parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            yield f"/proc/self/fd/{fd}/{Path(path).name}"
        finally:
            os.close(fd)
        return
    yield name


def _has(module, name: str) -> bool:
    """The module holds a function of that name."""
    try:
        module[name]
    except Exception:  # tvm_ffi raises its own error types for an unknown name
        return False
    return True


class TvmModel:
    """An exported Relax VM module (.so) called with the uint8 HxWx3 RGB image."""

    def __init__(self, so_path: Path, output_names: list[str], runtime_dir: Path | None = None,
                 params: list[np.ndarray] | None = None):
        """runtime_dir: the folder holding libtvm_runtime.so; None only when a TVM runtime is already
        in the process (the compiler imported, or an earlier model loaded). params: the model's
        weights, in the order of its main function's parameters after the image, for a model
        compiled with its weights lifted out (tvm_build.lift_weights): its own
        main_transform_params packs them once, here, into the layout its kernels were tuned for."""
        load_tvm_runtime(runtime_dir)
        import tvm_ffi

        try:
            with utf8_path(so_path) as name:
                module = tvm_ffi.load_module(name)
            vm = module["vm_load_executable"]()
            # (device type kDLCPU=1, device id 0, allocator kind 2 = pooled)
            vm["vm_initialization"](1, 0, 2)
            self._main = vm["main"]
            if params is None and _has(vm, "main_transform_params"):  # else the first call fails, obscurely
                raise ConfigError(f"compiled model {so_path} takes its weights as parameters, and none were given")
            self._weights = self._packed(vm, params) if params is not None else ()
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"cannot load compiled model {so_path}: {exc}") from None
        self._keep = (module, vm)  # the VM must outlive the function handle
        self.path = Path(so_path)
        self.output_names = list(output_names)
        self._input: np.ndarray | None = None
        self._tensor = None

    @staticmethod
    def _packed(vm, params: list[np.ndarray]) -> tuple:
        """params through the module's main_transform_params: the weights main takes."""
        import tvm_ffi

        tensors = []
        for p in params:
            buf = aligned_empty(p.shape, p.dtype)  # the kernels assume aligned weights too
            np.copyto(buf, p)
            tensors.append(tvm_ffi.from_dlpack(buf))
        return tuple(vm["main_transform_params"](tensors))

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for one image, in the model's own order (copies)."""
        import tvm_ffi

        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"expected a uint8 HxWx3 image, got {x.dtype} {x.shape}")
        if self._input is None or self._input.shape[1:] != x.shape:
            # One aligned input buffer, reused: misaligned numpy memory crashed the kernels.
            self._input = aligned_empty((1,) + x.shape, np.uint8)
            self._tensor = tvm_ffi.from_dlpack(self._input)
        np.copyto(self._input[0], x)
        out = self._main(self._tensor, *self._weights)
        outs = [out] if hasattr(out, "__dlpack__") else list(out)
        # Copy: the VM may reuse its output buffers on the next call.
        return [np.from_dlpack(t).copy() for t in outs]

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.run(x)
        if len(outs) != len(self.output_names):
            raise ConfigError(f"model returned {len(outs)} outputs, manifest lists {len(self.output_names)}")
        return dict(zip(self.output_names, outs))
