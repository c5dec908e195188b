"""The ISA check finds instructions Skylake-AVX512 lacks, and only those."""

import shutil
import subprocess

import pytest

from frvt_submission.validation.isa import foreign_instructions

pytestmark = pytest.mark.skipif(shutil.which("objdump") is None or shutil.which("gcc") is None,
                                reason="needs gcc and objdump")


def _so(tmp_path, name, asm):
    src = tmp_path / f"{name}.c"
    src.write_text(f'void f(void) {{ __asm__ volatile("{asm}"); }}\n')
    so = tmp_path / f"lib{name}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    return so


def test_vnni_is_found(tmp_path):
    found = foreign_instructions(_so(tmp_path, "vnni", "vpdpbusd %zmm2, %zmm1, %zmm0"))
    assert sum(found.values()) == 1 and "VNNI" in next(iter(found))


def test_plain_avx512_and_f16c_pass(tmp_path):
    so = _so(tmp_path, "ok", "vaddps %zmm2, %zmm1, %zmm0\\n vfmadd231ps %zmm2, %zmm1, %zmm0\\n vcvtph2ps %xmm1, %ymm0")
    assert foreign_instructions(so) == {}


def test_compiled_models_run_on_nist_cpu(built):
    from frvt_submission import paths

    for so in ("detector.so", "recognizer.so"):
        assert foreign_instructions(paths.DEFAULT_OUTPUTS.config / so) == {}
