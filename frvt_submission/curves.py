"""Pictures of accuracy and timing (matplotlib, PNG bytes): DET, ROC, score histograms, stage bars, latencies."""

from __future__ import annotations

import io

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def error_rates(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, FMR, FNMR) at every distinct score: FMR = impostors >= t, FNMR = genuine < t."""
    t = np.unique(np.concatenate([genuine, impostor]))
    imp, gen = np.sort(impostor), np.sort(genuine)
    fmr = 1.0 - np.searchsorted(imp, t, side="left") / max(imp.size, 1)
    fnmr = np.searchsorted(gen, t, side="left") / max(gen.size, 1)
    return t, fmr, fnmr


def _at(threshold: float, genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    return float(np.mean(impostor >= threshold)), float(np.mean(genuine < threshold))


def det_roc_png(sets: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float) -> bytes:
    """One DET (FNMR vs FMR, log-log) and one ROC (TMR vs FMR, log x) panel, a curve per set, each
    set's operating point at the threshold marked. Rates of 0 sit at the axis floor (1/impostors)."""
    plt = _plt()
    fig, (det, roc) = plt.subplots(1, 2, figsize=(11, 4.6))
    for name, (gen, imp) in sets.items():
        if gen.size == 0 or imp.size == 0:  # (no error rate to draw without both kinds of pair)
            continue
        _, fmr, fnmr = error_rates(gen, imp)
        floor = 1.0 / max(imp.size, 1)
        line, = det.loglog(np.maximum(fmr, floor), np.maximum(fnmr, 1.0 / max(gen.size, 1)), label=name)
        roc.semilogx(np.maximum(fmr, floor), 1.0 - fnmr, color=line.get_color(), label=name)
        op_fmr, op_fnmr = _at(threshold, gen, imp)
        det.plot(max(op_fmr, floor), max(op_fnmr, 1.0 / max(gen.size, 1)), "o", color=line.get_color())
        roc.plot(max(op_fmr, floor), 1.0 - op_fnmr, "o", color=line.get_color())
    det.set(xlabel="FMR (false match rate)", ylabel="FNMR (false non-match rate)",
            title=f"DET; dots: threshold {threshold:.3f}")
    roc.set(xlabel="FMR (false match rate)", ylabel="TMR (1 - FNMR)", title="ROC")
    for ax in (det, roc):
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no set has both genuine and impostor pairs", ha="center", transform=ax.transAxes)
    return _png(fig)


def histograms_png(sets: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float) -> bytes:
    """Genuine and impostor cosine histograms, one panel per set, the threshold as a line."""
    plt = _plt()
    n = len(sets)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    bins = np.linspace(-1.0, 1.0, 81)
    for ax, (name, (gen, imp)) in zip(axes.flat, sets.items()):
        for scores, kind, colour in ((imp, "impostor", "C0"), (gen, "genuine", "C1")):
            if scores.size:  # (an empty one has no density)
                ax.hist(scores, bins=bins, density=True, alpha=0.6, color=colour, label=f"{kind} ({scores.size})")
        ax.axvline(threshold, color="black", lw=1)
        ax.set(title=name, xlabel="cosine score")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()  # titles clear the row above's axis labels
    return _png(fig)


def stage_bars_png(stages: list[list]) -> bytes:
    """Median and p90 ms per pipeline stage (rows as the timing summary gives them)."""
    plt = _plt()
    names = [r[0] for r in stages]
    med = [float(r[1]) for r in stages]
    p90 = [float(r[2]) for r in stages]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    y = np.arange(len(names))
    ax.barh(y - 0.2, med, height=0.4, label="median")
    ax.barh(y + 0.2, p90, height=0.4, label="p90")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set(xlabel="ms per call", title="time per stage")
    ax.legend()
    return _png(fig)


def latency_png(ms: np.ndarray, budget_ms: float) -> bytes:
    """Histogram of createTemplate times, median and the budget marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(ms, bins=40)
    ax.axvline(float(np.median(ms)), color="black", lw=1, label=f"median {np.median(ms):.1f} ms")
    if budget_ms <= 2 * ms.max():
        ax.axvline(budget_ms, color="red", lw=1, label=f"budget {budget_ms:.0f} ms")
    ax.set(xlabel="ms per createTemplate call", ylabel="calls", title="latency")
    ax.legend()
    return _png(fig)
