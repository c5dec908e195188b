"""A reader of dlib's serialization (dlib/serialize.h, dlib/cuda/tensor.h): the primitives a .dat is made of."""

from __future__ import annotations

import numpy as np

from frvt_runtime.errors import ConfigError


class DatReader:
    """Reads dlib's serialized values, in order, from the bytes of a .dat file.

    Integers: one control byte (low 4 bits = byte count, 0x80 = negative) then that many
    little-endian magnitude bytes. Floats: an integer mantissa and an integer exponent
    (value = mantissa * 2**exponent; exponents 32000-32002 are inf, -inf and nan). Strings:
    an integer length and the bytes. Bools: the character '1' or '0'. Tensors: version 2,
    four integers (num_samples, k, nr, nc), then raw little-endian float32 values."""

    def __init__(self, data: bytes, name: str = ".dat"):
        self.data, self.pos, self.name = data, 0, name

    def fail(self, what: str) -> ConfigError:
        return ConfigError(f"{self.name}: {what} at byte {self.pos}; not the dlib model this "
                           "converter reads (check the wheel member and the converter setting)")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"file ends while reading {n} bytes")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        special = {32000: np.inf, 32001: -np.inf, 32002: np.nan}
        value = special.get(exponent, None)
        return float(value) if value is not None else float(np.ldexp(np.float64(mantissa), exponent))

    def string(self) -> str:
        return self.take(self.int()).decode("latin-1")

    def bool(self) -> bool:
        ch = self.take(1)
        if ch not in (b"0", b"1"):
            raise self.fail(f"bad bool byte {ch!r}")
        return ch == b"1"

    def tensor(self) -> np.ndarray:
        """A resizable_tensor as a float32 (num_samples, k, nr, nc) array."""
        version = self.int()
        if version != 2:
            raise self.fail(f"tensor version {version}, expected 2")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        """An alias_tensor: only its shape is stored (its offset into params is implied)."""
        version = self.int()
        if version != 1:
            raise self.fail(f"alias_tensor version {version}, expected 1")
        return tuple(self.int() for _ in range(4))

    def expect(self, *versions: str) -> str:
        """A layer's version string, which must be one of versions."""
        start = self.pos
        found = self.string()
        if found not in versions:
            self.pos = start
            raise self.fail(f"found {found!r} where {' or '.join(map(repr, versions))} was expected")
        return found

    def version(self, allowed: range, what: str) -> int:
        v = self.int()
        if v not in allowed:
            raise self.fail(f"{what} version {v}, expected {allowed.start}..{allowed.stop - 1}")
        return v
