"""The u8 x s8 dot-product instructions MetaSchedule tensorizes int8 kernels with, per code path.

TVM ships the AVX-512 form (vpmaddubsw + vpmaddwd on 512 bits; "dot_16x4_avx512")
and VNNI's, but no AVX2 one: dot_16x4_avx2 below does the same 16 sums of 4
products as two 256-bit halves. vpmaddubsw adds each pair of products in int16
with saturation; the int8 weights are 7-bit (models/quantize.WEIGHT_MAX), so no
pair reaches it and the sums are exact. VNNI (vpdpbusd) is not used: NIST's
Xeon Gold 6140 (the avx512 path's CPU) lacks it.
"""

from __future__ import annotations

AVX2_DOT = "dot_16x4_avx2"
AVX512_DOT = "dot_16x4_avx512"  # registered by tvm.s_tir.tensor_intrin.x86


def register() -> None:
    """Register dot_16x4_avx2 (once per process) and TVM's x86 intrinsics."""
    from tvm.s_tir import TensorIntrin
    from tvm.s_tir.tensor_intrin import x86
    from tvm.script import tirx as T

    try:
        TensorIntrin.get(AVX2_DOT)
        return
    except Exception:  # noqa: BLE001  TVM raises its own error for an unknown name
        pass

    @T.prim_func(s_tir=True)
    def dot_16x4_avx2(A: T.Buffer((4,), "uint8", offset_factor=1), B: T.Buffer((16, 4), "int8", offset_factor=1),
                      C: T.Buffer((16,), "int32", offset_factor=1)) -> None:
        with T.sblock("root"):
            T.reads(C[0:16], A[0:4], B[0:16, 0:4])
            T.writes(C[0:16])
            a = T.reinterpret(T.broadcast(T.reinterpret(A.vload([0], "uint8x4"), dtype="int32"), 8),
                              dtype="uint8x32")
            for half in T.unroll(2):
                pairs = T.call_llvm_pure_intrin(T.llvm_lookup_intrinsic_id("llvm.x86.avx2.pmadd.ub.sw"), a,
                                                B.vload([half * 8, 0], dtype="int8x32"), dtype="int16x16")
                C[T.ramp(half * 8, 1, 8)] += T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id("llvm.x86.avx2.pmadd.wd"), pairs, T.int16x16(1), dtype="int32x8")

    TensorIntrin.register(AVX2_DOT, x86.dot_product_16x4_u8i8i32_desc, dot_16x4_avx2)


def dot_intrinsic(target) -> str:
    """The intrinsic for target's code: AVX-512 when it has avx512bw, else AVX2."""
    from .isa_class import target_features

    return AVX512_DOT if "avx512bw" in target_features(target) else AVX2_DOT


def space(target):
    """MetaSchedule's LLVM search space plus tiling with target's dot intrinsic (it applies to the
    int8 kernels only: any other block does not match the intrinsic), placed before the plain
    tiling as in TVM's own x86 presets."""
    from tvm.s_tir import meta_schedule as ms

    register()
    rules = list(ms.ScheduleRule.create("llvm"))
    at = next(i for i, r in enumerate(rules) if type(r).__name__ == "MultiLevelTiling")
    rules.insert(at, ms.schedule_rule.MultiLevelTilingWithIntrin(
        dot_intrinsic(target), structure="SSRSRS", tile_binds=None, max_innermost_factor=64,
        vector_load_lens=None, reuse_read=None,
        reuse_write=ms.schedule_rule.ReuseType(req="may", levels=[1, 2], scope="global")))
    postprocs = list(ms.Postproc.create("llvm"))
    at = next(i for i, p in enumerate(postprocs) if type(p).__name__ == "RewriteReductionBlock") + 1
    postprocs.insert(at, ms.postproc.RewriteTensorize(vectorize_init_loop=True))
    return ms.space_generator.PostOrderApply(sch_rules=rules, postprocs=postprocs, mutator_probs="llvm")
