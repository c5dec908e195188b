"""Instruction-set classes of tuning records: which class a target is in, and which records it may replay."""

from __future__ import annotations

# NIST's timing machine (Xeon Gold 6140), as LLVM names it. Code built for another CPU is
# limited to the features this one has (tvm_build.resolve_target): one instruction it lacks is
# a crash there.
NIST_CPU = "skylake-avx512"
# [submission] target that builds one code path per class below, for NIST's whole fleet; the
# library runs the widest one the CPU it finds itself on has (frvt_runtime.code_paths).
NIST_TARGET = "nist"

# Narrow to wide. Each class is tuned by compiling for one LLVM CPU that has its
# instruction set and nothing wider, so its records (and the code built from
# them) run on every CPU of the class. A schedule's vector width and register
# blocking are chosen for its class: replayed on a narrower one they spill
# registers and split vectors (znver5 records on Zen 3: 1.8x slower than
# OpenVINO), so compile never replays a wider class's records.
CLASSES = {
    # AVX2 + FMA, 16 vector registers: Haswell and later Intel, AMD Zen 1-4.
    "avx2": ("haswell", frozenset({"avx2", "fma"})),
    # AVX-512 F/BW/DQ/VL, 32 vector registers: NIST's Xeon Gold 6140/6254.
    "avx512": (NIST_CPU, frozenset({"avx512f", "avx512bw", "avx512dq", "avx512vl"})),
}


def class_of_features(features) -> str | None:
    """The widest class whose instructions the feature set has; None below AVX2."""
    have = {str(f) for f in features}
    fits = [name for name, (_, need) in CLASSES.items() if need <= have]
    return fits[-1] if fits else None


def target_features(target) -> set[str]:
    """LLVM features a target compiles with: its CPU's, less the '-x' and plus the '+x' in mattr."""
    from tvm.target import codegen

    feats = {str(f) for f in codegen.llvm_get_cpu_features(target)}
    for attr in target.attrs.get("mattr", []) or []:
        attr = str(attr)
        if attr.startswith("-"):
            feats.discard(attr[1:])
        elif attr.startswith("+"):
            feats.add(attr[1:])
    return feats


def target_class(target) -> str | None:
    """The ISA class code built for target belongs to."""
    return class_of_features(target_features(target))


def llvm_knows_cpu(cpu: str) -> bool:
    """cpu is a CPU name this TVM's LLVM accepts as mcpu (for others it only warns, and builds
    for a generic x86-64)."""
    from tvm.target import codegen

    return bool(codegen.llvm_is_valid_cpu(cpu, str(codegen.llvm_get_system_triple())))


def cpu_class(cpu: str) -> str | None:
    """The class of an LLVM CPU name (e.g. a host-specific records folder such as znver5)."""
    import tvm

    if cpu in CLASSES or not llvm_knows_cpu(cpu):
        return None
    return target_class(tvm.target.Target({"kind": "llvm", "mcpu": cpu, "num-cores": 1}))


def class_cpu(isa: str) -> str:
    """The LLVM CPU a class is tuned and compiled for."""
    return CLASSES[isa][0]


def rank(isa: str | None) -> int:
    """Width order of a class: -1 for none, 0 for the narrowest."""
    return list(CLASSES).index(isa) if isa in CLASSES else -1


def host_features() -> set[str]:
    """The instruction-set features this CPU offers, as the library sees them (the kernel's flags:
    a hypervisor may hide some of what the CPU model has), else LLVM's guess from the CPU model."""
    from frvt_runtime.code_paths import cpu_features, feature_name

    found = cpu_features()
    if found:
        return found
    import tvm
    from tvm.target import codegen

    host = str(codegen.llvm_get_system_cpu())
    return {feature_name(f) for f in target_features(tvm.target.Target({"kind": "llvm", "mcpu": host, "num-cores": 1}))}


def host_class() -> str | None:
    """The widest class this CPU runs."""
    return class_of_features(host_features())


def host_cpu_name() -> str:
    """The CPU's model name as the kernel reports it (e.g. "AMD EPYC 9R45")."""
    import platform

    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def vector_features(target) -> list[str]:
    """The wide-vector features code built for target uses, spelled as the library compares them
    (code_paths.feature_name): the ones a class adds; the SSE levels below them are on every
    x86-64 CPU this runs on. A code path requires them of the CPU (models.json's "requires")."""
    from frvt_runtime.code_paths import feature_name

    return sorted({feature_name(f) for f in target_features(target) if f.startswith(("avx", "fma", "amx"))})


def host_can_run(target) -> tuple[bool, list[str]]:
    """Whether this CPU has every vector feature the target uses; the missing ones."""
    missing = sorted(set(vector_features(target)) - host_features())
    return not missing, missing
