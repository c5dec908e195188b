"""Which of config/'s compiled code paths (one per instruction-set class) this CPU runs."""

from __future__ import annotations

from .errors import ConfigError

AUTO = "auto"  # [pipeline] code_path: pick by the CPU's features; a path's name forces that path


def feature_name(name: str) -> str:
    """One spelling for LLVM's and the kernel's feature names (LLVM "avx512vnni" is the kernel's
    "avx512_vnni")."""
    return name.lower().replace("_", "")


def cpu_features(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The instruction-set features this CPU offers and the OS has enabled, as Linux lists them.
    Linux drops a feature whose register state the OS does not save (e.g. the AVX-512 flags when
    XCR0 lacks the zmm state), and a hypervisor's hidden features never appear: the flags are what
    code may use here. Empty when unreadable: then only a path that requires nothing qualifies."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return {feature_name(x) for x in line.split(":", 1)[1].split()}
    except OSError:
        pass
    return set()


def lacking(paths: dict[str, dict], have: set[str]) -> dict[str, list[str]]:
    """path name -> the features it requires that have lacks, for each path that cannot run."""
    have = {feature_name(f) for f in have}
    found = {name: sorted(feature_name(f) for f in p.get("requires", []) if feature_name(f) not in have)
             for name, p in paths.items()}
    return {name: missing for name, missing in found.items() if missing}


def choose_path(paths: dict[str, dict], order: list[str], forced: str = AUTO,
                features: set[str] | None = None) -> str:
    """The path to run: the forced one, else the first in order (widest first) whose required
    features this CPU has. ConfigError when none can run, or a forced one is unknown or unrunnable
    (its code would die of an illegal instruction)."""
    lacks = lacking(paths, cpu_features() if features is None else features)
    if forced != AUTO:
        if forced not in paths:
            raise ConfigError(f"pipeline.json's code_path {forced!r} is not in models.json (paths: "
                              f"{', '.join(order)})")
        if forced in lacks:
            raise ConfigError(f"code path {forced!r} needs {', '.join(lacks[forced])}, which this CPU lacks")
        return forced
    for name in order:
        if name not in lacks:
            return name
    raise ConfigError("no compiled code path runs on this CPU: " +
                      "; ".join(f"{n} needs {', '.join(lacks[n])}" for n in order))
