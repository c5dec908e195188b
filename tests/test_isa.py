"""The ISA check finds instructions Skylake-AVX512 lacks, and only those."""

import shutil
import subprocess

import pytest

from frvt_submission.validation.isa import evex_instructions, foreign_instructions

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


def test_evex_is_found_in_any_vector_width_and_vex_is_not(tmp_path):
    """AVX-512's 256-bit forms (EVEX: ymm16-31, masks, AVX512VL) die on an AVX2-only CPU as surely as
    zmm code; the VEX forms of the same mnemonics run there."""
    vex = _so(tmp_path, "vex", "vaddps %ymm2, %ymm1, %ymm0\\n vfmadd231ps %ymm2, %ymm1, %ymm0\\n vpxor %xmm1, %xmm1, %xmm1")
    assert evex_instructions(vex) == {}
    evex = _so(tmp_path, "evex", "vaddps %ymm17, %ymm1, %ymm0\\n vaddps %zmm2, %zmm1, %zmm0\\n "
                                 "vpternlogd $0xff, %ymm0, %ymm0, %ymm0\\n vmovups %ymm0, (%rax){%k1}")
    assert sum(evex_instructions(evex).values()) == 4


def test_compiled_models_run_on_nist_cpu_and_the_avx2_path_has_no_avx512(built):
    from frvt_runtime.config_dir import path_entries, path_names, read_manifest
    from frvt_submission import paths

    manifest = read_manifest(paths.DEFAULT_OUTPUTS.config)
    checked = 0
    for path in path_names(manifest):
        for entry in path_entries(manifest, path).values():
            so = paths.DEFAULT_OUTPUTS.config / entry["file"]
            assert foreign_instructions(so) == {}
            if manifest["paths"][path]["isa_class"] == "avx2":
                assert evex_instructions(so) == {}, so
                checked += 1
    assert checked >= 5  # the default target has an avx2 path: its three detector sizes, recognizer, kernels
