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


def foreign_instructions(so: Path) -> Counter:
    """Count, per extension, the instructions of so that Skylake-AVX512 cannot execute."""
    if shutil.which("objdump") is None:
        raise RuntimeError("objdump (binutils) is needed for the ISA check")
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(so)], capture_output=True, text=True,
                          check=True).stdout
    found: Counter = Counter()
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        mnemonic = parts[1].split()[0] if parts[1].split() else ""
        if not mnemonic or ALLOWED.fullmatch(mnemonic):
            continue
        for name, pat in _PATTERNS.items():
            if pat.match(mnemonic):
                found[f"{name}: {mnemonic}"] += 1
                break
    return found
