"""The compiled resampling kernels of config/ (halvings, area, warp), called on numpy arrays through tvm_ffi."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ConfigError

# What compile/resample_kernels.py builds, by name.
FUNCTIONS = ("halve_rgb", "quarter_rgb", "area_rgb", "warp_rgb", "warp_inside_rgb")


class _Alias:
    """A writable numpy view of read-only memory, made through the array interface (no copy)."""

    def __init__(self, a: np.ndarray):
        self.__array_interface__ = {"data": (a.ctypes.data, False), "shape": a.shape, "typestr": a.dtype.str,
                                    "version": 3}
        self._owner = a  # the memory's owner lives as long as the alias


def _arg(a: np.ndarray) -> np.ndarray:
    """a as a kernel argument: tvm_ffi takes numpy arrays through DLPack, which numpy refuses for
    read-only arrays (NIST's frame is one). The kernels only read such inputs, so they get a
    writable alias of the same memory, alive for the call."""
    return a if a.flags.writeable else np.asarray(_Alias(a))


class ResampleKernels:
    """The kernels of one compiled module; inputs must be C-contiguous (the callers check)."""

    def __init__(self, so_path: Path, runtime_dir: Path | None):
        """runtime_dir: the folder of libtvm_runtime.so, as for engine.TvmModel. The runtime must be
        in the process before the module: the kernels loaded without it crash at their first call."""
        import tvm_ffi

        from .engine import load_tvm_runtime, utf8_path

        load_tvm_runtime(runtime_dir)
        try:
            with utf8_path(so_path) as name:
                module = tvm_ffi.load_module(name)
            self._fn = {name: module[name] for name in FUNCTIONS}
        except Exception as exc:
            raise ConfigError(f"cannot load resampling kernels {so_path}: {exc}") from None
        self._module = module  # the functions need their module alive
        self.path = Path(so_path)

    def halve(self, image: np.ndarray, times: int = 1) -> np.ndarray:
        """INTER_AREA's exact 2x halving of a uint8 HxWx3 image, done once or twice (in one pass)."""
        h, w = image.shape[:2]
        f = 1 << times
        out = np.empty((h // f, w // f, 3), np.uint8)
        if out.size:
            self._fn["quarter_rgb" if times == 2 else "halve_rgb"](_arg(image), _arg(out))
        return out

    def area(self, image: np.ndarray, rows: tuple[np.ndarray, np.ndarray],
             values: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """INTER_AREA of a uint8 HxWx3 image: rows = (th, ky) source rows and weights of each output
        row, values = (kx, tw * 3) in-row source indices and weights of each output value. The
        rounded result and the flat indices of values too close to x.5 to trust."""
        (yi, yw), (xi, xw) = rows, values
        th, n = yi.shape[0], xi.shape[1]
        out = np.empty((th, n // 3, 3), np.uint8)
        flags = np.zeros(-(-th * n // 8) * 8, np.uint8)  # whole uint64 words, scanned 8 at a time
        near = flags[:th * n].reshape(th, n)
        self._fn["area_rgb"](_arg(image.reshape(image.shape[0], -1)), _arg(yi), _arg(yw), _arg(xi),
                             _arg(xw), _arg(out.reshape(th, n)), _arg(near))
        words = np.flatnonzero(flags.view(np.uint64))  # np.flatnonzero over the bytes took ~2.6 ms
        at = (words[:, None] * 8 + np.arange(8)).reshape(-1)
        return out, at[flags[at] != 0]

    def warp(self, image: np.ndarray, inverse: np.ndarray, size: tuple[int, int], inside: bool) -> np.ndarray:
        """warpAffine of a uint8 HxWx3 image into size (w, h). inverse: float32 (a, d, b, e, c, f) of
        the inverse matrix [[a, b, c], [d, e, f]]; inside: every source point lies within
        [0, w - 1) x [0, h - 2), so no neighbour is outside."""
        tw, th = size
        flat = np.empty(th * tw * 3 + 1, np.uint8)  # + the spare byte the last pixel's 4-lane store needs
        out = flat[:-1].reshape(th, tw, 3)
        self._fn["warp_inside_rgb" if inside else "warp_rgb"](_arg(image), inverse, out)
        return out
