"""frvt-submission: take an ONNX face model to a NIST FRVT 1:1 submission via Apache TVM."""


def _version() -> str:
    """pyproject.toml's version (the one place it is written), else the installed metadata's."""
    import tomllib
    from pathlib import Path

    try:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        return tomllib.loads(pyproject.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("frvt-submission")
        except PackageNotFoundError:
            return "unknown"


__version__ = _version()
