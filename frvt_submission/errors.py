"""The tooling's own typed errors; the runtime's (ConfigError, RefuseInput...) are in frvt_runtime.errors."""

from frvt_runtime.errors import ConfigError, FrvtError


class CompileError(FrvtError):
    """TVM import, build or export failed."""


class ChecksumError(ConfigError):
    """A model file's SHA-256 differs from the pinned value."""

    def __init__(self, path, expected: str, actual: str):
        super().__init__(f"{path}: SHA-256 is {actual}, expected {expected}")
        self.path, self.expected, self.actual = path, expected, actual
