"""NIST's interface versions, read from its headers in cpp_api/include/ (their one source)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from frvt_runtime.errors import FrvtError

from . import paths

INCLUDE = paths.ROOT / "cpp_api" / "include"


@dataclass(frozen=True)
class InterfaceVersions:
    structs: str  # frvt_structs.h's FRVT_STRUCTS_{MAJOR,MINOR}_VERSION, e.g. "3.1": the tarball's name carries it
    api: str      # frvt11.h's API_{MAJOR,MINOR}_VERSION, e.g. "6.0"


def _version(header: Path, prefix: str) -> str:
    """MAJOR.MINOR of the header's `uint16_t <prefix>_MAJOR_VERSION{n};` definitions."""
    try:
        text = header.read_text()
    except OSError as exc:
        raise FrvtError(f"cannot read NIST's header {header}: {exc.strerror or exc}") from None
    parts = []
    for part in ("MAJOR", "MINOR"):
        found = re.search(rf"^\s*uint16_t\s+{prefix}_{part}_VERSION\s*\{{\s*(\d+)\s*\}}\s*;", text, re.M)
        if found is None:
            raise FrvtError(f"{header} defines no {prefix}_{part}_VERSION (uint16_t ...{{n}};)")
        parts.append(found.group(1))
    return ".".join(parts)


def interface_versions(include: Path | None = None) -> InterfaceVersions:
    """The versions of NIST's structs and 1:1 API the library is built against."""
    include = include or INCLUDE
    return InterfaceVersions(structs=_version(include / "frvt_structs.h", "FRVT_STRUCTS"),
                             api=_version(include / "frvt11.h", "API"))
