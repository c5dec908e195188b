"""Does compiled code use instructions the NIST CPU lacks? Disassemble and look for them.

NIST times on a Xeon Gold 6140 (LLVM "skylake-avx512"). Building for the host
(e.g. cascadelake, icelake, znver3) may emit instructions from extensions that
CPU does not have; one such instruction is a crash on NIST's machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

# Extensions newer than (or absent from) Skylake-SP, by mnemonic pattern.
EXTENSIONS_ABSENT_FROM_SKYLAKE_AVX512 = {
    "AVX512_VNNI / AVX_VNNI": r"vpdp(bu|ws)sds?",
    "AVX512_BF16": r"vcvtne2ps2bf16|vcvtneps2bf16|vdpbf16ps",
    "AVX512_FP16": r"v\w+ph|v\w+sh|vcvt\w*ph\w*",
    "AMX": r"tdp\w+|tileloadd\w*|tilestored|ldtilecfg|sttilecfg|tilezero|tilerelease",
    "AVX512_IFMA": r"vpmadd52[lh]uq",
    "AVX512_VBMI/VBMI2": r"vpermt?2?b|vpermi2b|vpmultishiftqb|vpcompress[bw]|vpexpand[bw]|vpsh[lr]dv?[wdq]",
    "AVX512_BITALG/VPOPCNTDQ": r"vpopcnt[bwdq]|vpshufbitqmb",
    "GFNI": r"v?gf2p8\w+",
    "SHA": r"sha1\w+|sha256\w+",
}
# vcvtph2ps / vcvtps2ph are F16C (Skylake has it): never count them.
ALLOWED = re.compile(r"vcvtph2ps|vcvtps2ph")
_PATTERNS = {name: re.compile(rf"^(?:{pat})$") for name, pat in EXTENSIONS_ABSENT_FROM_SKYLAKE_AVX512.items()}


# Legacy prefixes that may precede an instruction's opcode bytes. After them, 0x62 is the EVEX
# prefix (in 64-bit mode it is nothing else: BOUND does not exist there): AVX-512's encoding, also
# of its 128/256-bit forms, which an AVX2-only CPU cannot execute even without a zmm register.
LEGACY_PREFIXES = {"66", "67", "f2", "f3", "2e", "3e", "26", "64", "65", "36", "f0"}


def instructions(so: Path):
    """(opcode bytes as hex strings, mnemonic) of each instruction objdump decodes in so."""
    if shutil.which("objdump") is None:
        raise RuntimeError("objdump (binutils) is needed for the ISA check")
    text = subprocess.run(["objdump", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[2].split():  # a header, or the rest of a long instruction's bytes
            continue
        yield parts[1].split(), parts[2].split()[0]


def foreign_instructions(so: Path) -> Counter:
    """Count, per extension, the instructions of so that Skylake-AVX512 cannot execute."""
    found: Counter = Counter()
    for _, mnemonic in instructions(so):
        if ALLOWED.fullmatch(mnemonic):
            continue
        for name, pat in _PATTERNS.items():
            if pat.match(mnemonic):
                found[f"{name}: {mnemonic}"] += 1
                break
    return found


def evex_instructions(so: Path) -> Counter:
    """Count, per mnemonic, the EVEX-encoded (AVX-512) instructions of so."""
    found: Counter = Counter()
    for raw, mnemonic in instructions(so):
        opcode = next((b for b in raw if b.lower() not in LEGACY_PREFIXES), "")
        if opcode.lower() == "62":
            found[mnemonic] += 1
    return found
