"""Obtain a model file from a pinned PyPI wheel (or a local path) and check its SHA-256."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

from frvt_runtime.config_dir import sha256_of
from frvt_runtime.errors import ConfigError
from .. import paths
from ..config import ModelSettings
from ..errors import ChecksumError
from ..progress import heartbeat
from .converters import converted


def verify(path: Path, expected: str) -> Path:
    """Raise a clear error naming the file and the expected hash when it is absent or differs."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file missing: {path}{' (a folder, not a file)' if path.is_dir() else ''} "
                          f"(expected SHA-256 {expected or 'unset'})")
    if expected:
        actual = sha256_of(path)
        if actual != expected:
            raise ChecksumError(path, expected, actual)
    return path


def download_package(requirement: str, dest: Path, sdist: bool = False) -> Path:
    """pip download one pinned package (no dependencies) into dest; return the archive path."""
    dest.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_").lower()
    version = requirement.split("==")[1] if "==" in requirement else ""
    prefix = f"{name}_{version}"

    def matches():
        return [p for p in dest.iterdir() if p.name.lower().replace("-", "_").startswith(prefix)
                and not p.name.endswith(".part")]

    found = matches()
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-q", "-d", str(dest), requirement]
    cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    with heartbeat(print, f"downloading {requirement} from the package index"):
        proc = subprocess.run(cmd, capture_output=True, text=True)
    found = matches()
    if proc.returncode != 0 or not found:
        raise ConfigError(f"could not download {requirement} from the package index:\n{proc.stderr.strip()}")
    return found[0]


def _verify_model(spec: ModelSettings, path: Path) -> Path:
    """verify, with a checksum error that names the setting and what to do about it."""
    try:
        return verify(path, spec.sha256)
    except ChecksumError as exc:
        source = spec.path or f"wheel {spec.wheel}, member {spec.member}"
        raise ConfigError(f"[{spec.name}] sha256: {exc}. Check the model's source ({source}); if the model "
                          f"was changed on purpose, put its new hash in [{spec.name}] sha256") from None


def decode_member(data: bytes, encoding: str, where: str) -> bytes:
    """The model a wheel member holds: the member itself (encoding ""), or for "python-bytes:NAME"
    the bytes literal a Python file assigns to NAME at its top level, read with ast (the package is
    never imported or run)."""
    if not encoding:
        return data
    _, name = encoding.split(":", 1)  # the settings check allowed this form only
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError) as exc:
        raise ConfigError(f"{where}: not a Python file ({exc}), but member_encoding is {encoding!r}") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, bytes):
                return node.value.value
            raise ConfigError(f"{where}: {name} is not assigned a bytes literal (member_encoding {encoding!r})")
    raise ConfigError(f"{where}: no top-level assignment to {name} (member_encoding {encoding!r})")


def fetch_model(spec: ModelSettings, root: Path = paths.MODEL_CACHE) -> Path:
    """Return a verified local path to spec's ONNX file, fetching its wheel if needed; a source
    that spec's `convert` names a converter for is converted first (sha256 pins the ONNX)."""
    if spec.convert:
        source = Path(spec.path) if spec.path else wheel_member(spec, root)
        origin = spec.path or f"{spec.wheel} {spec.member}"
        if not source.is_file():
            raise ConfigError(f"[{spec.name}] model file missing: {source}")
        return _verify_model(spec, converted(source, spec.convert, f"{origin} sha256:{sha256_of(source)}"))
    if spec.path:  # made absolute, against the settings file's folder, when the settings were read
        return _verify_model(spec, Path(spec.path))
    return _verify_model(spec, wheel_member(spec, root, spec.sha256))


def model_stem(spec: ModelSettings) -> str:
    """The model file's name without its suffix: the member's or the path's, with the member's folder
    in front for a decoded member (retinaface/weights.py: "weights" alone says nothing)."""
    source = Path(spec.path or spec.member)
    return f"{source.parent.name}_{source.stem}" if spec.member_encoding and not spec.path else source.stem


def wheel_member(spec: ModelSettings, root: Path = paths.MODEL_CACHE, sha256: str = "") -> Path:
    """spec's wheel member, extracted once into root/original (again when its wheel changes,
    or when sha256 is given and the copy differs from it)."""
    if not (spec.wheel and spec.member):
        raise ConfigError(f"[{spec.name}] needs either path, or wheel and member")
    member = Path(spec.member)
    # A decoded member (e.g. retinaface/weights.py) is named after its folder too: "weights" alone says nothing.
    out = root / "original" / (f"{model_stem(spec)}.onnx" if spec.member_encoding else member.name)
    # The file name does not say which wheel it came from: the stamp does, so that a changed
    # wheel is fetched (and must exist) even when sha256 is empty or the member is unchanged.
    stamp, source = out.with_suffix(".source"), f"{spec.wheel} {spec.member} {spec.member_encoding}".rstrip() + "\n"
    if out.is_file() and stamp.is_file() and stamp.read_text() == source and (
        not sha256 or sha256_of(out) == sha256
    ):
        return out
    wheel = download_package(spec.wheel, root / "wheels")
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(spec.member)
    except KeyError:
        raise ConfigError(f"{wheel.name} has no member {spec.member}") from None
    except zipfile.BadZipFile as exc:
        raise ConfigError(f"{wheel}: {exc}") from None
    data = decode_member(data, spec.member_encoding, f"{wheel.name} member {spec.member}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    tmp.write_bytes(data)
    stamp.unlink(missing_ok=True)  # never a stamp beside a file it does not describe
    tmp.replace(out)
    stamp.write_text(source)
    return out
