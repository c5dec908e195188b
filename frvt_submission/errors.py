"""The tooling's own typed errors; the runtime's (ConfigError, RefuseInput...) are in frvt_runtime.errors."""

from frvt_runtime.errors import FrvtError


class CompileError(FrvtError):
    """TVM import, build or export failed."""
