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


def choose_path(paths: dict[str, dict], order: list[str], forced: str = AUTO,
                features: set[str] | None = None) -> str:
    """The path to run: the forced one, else the first in order (widest first) whose required
    features this CPU has. ConfigError when none can run, or a forced one is unknown or unrunnable
    (its code would die of an illegal instruction)."""
    have = cpu_features() if features is None else {feature_name(f) for f in features}

    def lacks(name: str) -> list[str]:
        return sorted(feature_name(f) for f in paths[name].get("requires", []) if feature_name(f) not in have)

    if forced != AUTO:
        if forced not in paths:
            raise ConfigError(f"pipeline.json's code_path {forced!r} is not in models.json (paths: "
                              f"{', '.join(order)})")
        if lacks(forced):
            raise ConfigError(f"code path {forced!r} needs {', '.join(lacks(forced))}, which this CPU lacks")
        return forced
    for name in order:
        if not lacks(name):
            return name
    raise ConfigError("no compiled code path runs on this CPU: " +
                      "; ".join(f"{n} needs {', '.join(lacks(n))}" for n in order))
