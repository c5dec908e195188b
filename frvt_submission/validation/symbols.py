"""Will NIST's loader accept lib/? Every ELF file's symbol version needs against NIST's glibc/libstdc++.

Like auditwheel's policy check: an object built here may need GLIBC_2.x or
GLIBCXX_3.4.x newer than NIST's OS provides, and then dlopen fails there with
"version `GLIBC_2.40' not found". The needs are read from .gnu.version_r
(SHT_GNU_verneed) by a small pure-Python ELF64 parser, so no tool is required.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

# NIST's evaluation OS: glibc 2.39 and GCC 13's libstdc++ (GLIBCXX_3.4.32, CXXABI_1.3.14).
POLICY_OS = "Ubuntu 24.04.3 LTS"
POLICY_MAX: dict[str, tuple[int, ...]] = {"GLIBC": (2, 39), "GLIBCXX": (3, 4, 32), "CXXABI": (1, 3, 14)}

ELF_MAGIC = b"\x7fELF"
SHT_GNU_VERNEED = 0x6FFFFFFE
SHN_UNDEF, SHN_XINDEX, SHN_LORESERVE = 0, 0xFFFF, 0xFF00
SECTION_HEADER = struct.Struct("<IIQQQQIIQQ")   # Elf64_Shdr
VERNEED = struct.Struct("<HHIII")               # Elf64_Verneed: version, cnt, file, aux, next
VERNAUX = struct.Struct("<IHHII")               # Elf64_Vernaux: hash, flags, other, name, next


class ElfError(ValueError):
    """The file starts with the ELF magic but is not a well-formed ELF64 little-endian object."""


def _read(f, offset: int, size: int) -> bytes:
    # Every offset comes from the file itself: a short read means truncated or corrupt.
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise ElfError(f"truncated: wanted {size} bytes at offset {offset}")
    return data


def _string(table: bytes, offset: int) -> str:
    end = table.find(b"\0", offset)
    if offset >= len(table) or end < 0:
        raise ElfError(f"string offset {offset} outside its string table")
    return table[offset:end].decode("ascii", "replace")


def version_needs(path: Path) -> list[tuple[str, str]]:
    """(library file, version name) pairs from the object's verneed section; [] if it has none."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != ELF_MAGIC:
            raise ElfError("no ELF magic")
        if len(ident) < 64:
            raise ElfError("truncated ELF header")
        # x86-64 NIST only runs ELF64 little-endian; anything else is itself a problem.
        if ident[4] != 2 or ident[5] != 1:
            raise ElfError(f"not ELF64 little-endian (class {ident[4]}, data {ident[5]})")
        shoff, = struct.unpack_from("<Q", ident, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ident, 0x3A)
        if shoff == 0:
            return []   # no section headers (stripped to the bone): nothing to read needs from
        if shentsize != SECTION_HEADER.size:
            raise ElfError(f"section header size {shentsize}, expected {SECTION_HEADER.size}")
        if shnum == 0:
            # More than SHN_LORESERVE sections: the real count is in section 0's sh_size.
            shnum = SECTION_HEADER.unpack(_read(f, shoff, SECTION_HEADER.size))[5]
        if shnum > 1 << 20:
            raise ElfError(f"implausible section count {shnum}")
        table = _read(f, shoff, shnum * SECTION_HEADER.size)
        sections = [SECTION_HEADER.unpack_from(table, i * SECTION_HEADER.size) for i in range(shnum)]

        needs = []
        for _name, sh_type, _flags, _addr, offset, size, link, info, _align, _entsize in sections:
            if sh_type != SHT_GNU_VERNEED:
                continue
            if not 0 < link < shnum:
                raise ElfError(f"verneed sh_link {link} is not a section")
            strtab_offset, strtab_size = sections[link][4], sections[link][5]
            strings = _read(f, strtab_offset, strtab_size)
            data = _read(f, offset, size)
            # sh_info is the number of Verneed entries; vn_next/vna_next are relative byte offsets.
            pos = 0
            for _ in range(info):
                if pos + VERNEED.size > len(data):
                    raise ElfError("verneed entry outside its section")
                _version, count, file_, aux, next_ = VERNEED.unpack_from(data, pos)
                library = _string(strings, file_)
                apos = pos + aux
                for _ in range(count):
                    if apos + VERNAUX.size > len(data):
                        raise ElfError("vernaux entry outside its section")
                    _hash, _vflags, _other, name, anext = VERNAUX.unpack_from(data, apos)
                    needs.append((library, _string(strings, name)))
                    if anext == 0:
                        break
                    apos += anext
                if next_ == 0:
                    break
                pos += next_
        return needs


def parse_version(name: str) -> tuple[str, tuple[int, ...]] | None:
    """'GLIBC_2.2.5' -> ('GLIBC', (2, 2, 5)); None for families the policy does not cover."""
    family, _, number = name.partition("_")
    if family not in POLICY_MAX or not number:
        return None
    parts = number.split(".")
    if not all(p.isdigit() for p in parts):
        return None   # e.g. GLIBC_PRIVATE
    return family, tuple(int(p) for p in parts)


def needed_versions(path: Path) -> dict[str, tuple[int, ...]]:
    """Family -> highest version the object needs, for the policy's families only."""
    highest: dict[str, tuple[int, ...]] = {}
    for _library, name in version_needs(path):
        parsed = parse_version(name)
        if parsed and parsed[1] > highest.get(parsed[0], ()):
            highest[parsed[0]] = parsed[1]
    return highest


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


def elf_files(folder: Path) -> list[Path]:
    """Every ELF file under folder, by magic bytes. A symlink into the folder is skipped (its
    target is counted where it lives); one leading outside is followed, since it ships too."""
    folder = folder.resolve()
    found, seen_dirs = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen_dirs:   # a link cycle
            dirs[:] = []
            continue
        seen_dirs.add(real)
        dirs[:] = sorted(d for d in dirs if not _links_inside(Path(root, d), folder))
        for name in sorted(files):
            p = Path(root, name)
            if not _links_inside(p, folder) and p.is_file() and _is_elf(p):
                found.append(p)
    return found


def _links_inside(p: Path, folder: Path) -> bool:
    return p.is_symlink() and p.resolve().is_relative_to(folder)


def check_symbol_versions(folder: Path) -> dict:
    """Scan every ELF file under folder; report needs above POLICY_MAX and the highest need seen."""
    folder = folder.resolve()
    objects = elf_files(folder)
    highest: dict[str, tuple[int, ...]] = {}
    problems = []
    for obj in objects:
        rel = obj.relative_to(folder)
        try:
            needs = needed_versions(obj)
        except (ElfError, OSError, struct.error) as e:
            problems.append(f"{rel}: unreadable ELF ({e})")
            continue
        for family, version in sorted(needs.items()):
            highest[family] = max(highest.get(family, ()), version)
            limit = POLICY_MAX[family]
            if version > limit:
                problems.append(f"{rel} needs {family}_{_dotted(version)} > {_dotted(limit)} ({POLICY_OS})")
    return {"objects": len(objects),
            "highest": {family: _dotted(v) for family, v in sorted(highest.items())},
            "problems": problems}
