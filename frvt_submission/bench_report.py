"""docs/benchmark.md: one section per CPU class and model pair, made from frvt bench's measured result."""

from __future__ import annotations

import time

from .benchmark import IMAGE_GRAPH_PEER, PEERS

def build_line(build: dict) -> str:
    """What the tuned TVM rows ran: the CPU and class compiled for, and each model's build facts
    in doc/version.txt's words (docs.tuning_summary)."""
    from .docs import tuning_summary

    if not build:
        return "TVM build: unknown."
    models = build.get("models", {})
    hand = any(e.get("hand_scheduled") for e in models.values())
    return (f"TVM build: compiled for `{build.get('cpu')}` ({build.get('isa_class')} class); "
            + "; ".join(f"{name} {tuning_summary(e)}" for name, e in models.items()) + "."
            + (" TVM untuned is the same graph without records: the hand-scheduled kernels are in it too."
               if hand else ""))


def arithmetic_text(build: dict) -> str:
    """The arithmetic the engines ran, from the build's facts (models.json's int8_convs)."""
    text = "fp32 arithmetic (TVM's dense layer reads the model's int8 weights and computes in fp32)"
    int8 = {name: e["int8_convs"] for name, e in build.get("models", {}).items() if e.get("int8_convs")}
    if not int8:
        return text
    return (text + ", but for " + ", ".join(f"the {name}'s {n} convs" for name, n in int8.items())
            + ": in int8 in TVM (u8 x s8 summed in int32), and the peers run the same QDQ model, each with the "
              "arithmetic it picks for it")


def report_markdown(r: dict, command: str, pair: str = "") -> str:
    """One CPU class's section of docs/benchmark.md (see merge_section); pair: the settings file's
    name when it is not the project's (a profile's model pair)."""
    from tabulate import tabulate

    build = r.get("build", {})
    lines = [f"## {pair + ': ' if pair else ''}{build.get('isa_class', 'unknown')} class: {r['cpu']}", "",
             f"CPU: {r['cpu']} (ISA features: {r.get('host_class', 'unknown')}), one pinned core (`taskset -c 0`), every engine at 1 thread, {arithmetic_text(build)}. "
             f"Peak: {r['peak']:.1f} GFLOP/s, measured by independent FMA chains on {r['lanes']}-lane vectors "
             f"(`cpp_api/tools/fma_peak.c`, built with -march=native); single-thread OpenBLAS SGEMM "
             f"(1536^3) reaches {r['sgemm']:.1f}. "
             f"GFLOP per inference: " + ", ".join(f"{k} {'unknown' if v is None else f'{v:.3f}'}"
                                                  for k, v in r["gflop"].items()) + "."
             + (f" {r['peers_isa']}" if r.get("peers_isa") else ""),
             build_line(build),
             f"Produced by `{command}` ({time.strftime('%Y-%m-%d')}).", ""]
    lines += ["Per model, every engine is timed from the uint8 image to the network's outputs: the TVM "
              "graph converts the image itself (colour order, normalisation, float conversion; "
              "`compile/image_input.py`), the peers get numpy's conversion (`to_tensor`) as in the pipeline; "
              f"\"{IMAGE_GRAPH_PEER}\" is OpenVINO running that same image-input graph, so the fused "
              "conversion is not TVM's advantage alone.", ""]
    for model in r["gflop"]:  # the detector at each compiled size, then the recognizer
        rows = [row for row in r["models"] if row[0] == model]
        best_peer = min((row[2] for row in rows if row[1] in PEERS), default=None)
        table = [[row[1], f"{row[2]:.2f}", "n/a" if row[3] is None else f"{row[3]:.1f}",
                  "n/a" if row[4] is None else f"{100 * row[4]:.1f}%",
                  f"{row[2] / best_peer:.2f}" if best_peer else "n/a"] for row in rows]
        lines += [f"### {model}", "", tabulate(table, headers=["engine", "median ms", "GFLOP/s", "of peak",
                                                              "ratio to fastest peer"], tablefmt="github"), ""]
    best_peer = min((row[1] for row in r["e2e"] if row[0] in PEERS), default=None)
    table = [[row[0], f"{row[1]:.1f}", f"{row[1] / best_peer:.2f}" if best_peer else "n/a"] for row in r["e2e"]]
    rounds = r.get("rounds", 1)
    lines += [f"### End to end: template creation ({r['images']} real images, {rounds} rounds)", "",
              "Same decode/detect/align/embed code around each engine (Python pipeline, no C++ bridge; the bridge "
              "adds about 0.1 ms), resampling with the build's compiled kernels (`config/<path>/resample.so`) as the "
              "library does. In each round, image by image, every engine in turn makes one untimed and one "
              "timed template (the order of engines rotates round by round); an engine's figure is the median "
              "over the images of each image's median over the rounds.", "",
              tabulate(table, headers=["engine", "median ms", "ratio to fastest peer"], tablefmt="github"), ""]
    if r.get("round_ratios"):
        lines += ["TVM tuned / fastest peer, each round on its own (the spread is this host's drift): "
                  + ", ".join(f"{x:.2f}" for x in r["round_ratios"]) + ".", ""]
    if r["notes"]:
        lines += ["### Engines that could not run a model", ""] + [f"- {n}" for n in r["notes"]] + [""]
    return "\n".join(lines)


REPORT_TITLE = "# Single-core benchmark, per CPU class"
REPORT_INTRO = ("Each section is one `make bench` run on one machine: TVM's figures hold for the class the "
                "build was compiled and tuned for (the section's title and its `TVM build` line), and ratios "
                "are taken within the run. A new run replaces only its own class's section.")


def merge_section(existing: str, key: str, section: str) -> str:
    """docs/benchmark.md with key's section (between its markers) replaced by section, or added."""
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    block = f"{start}\n{section.rstrip()}\n{end}"
    if start in existing and end in existing:
        head, rest = existing.split(start, 1)
        return head + block + rest.split(end, 1)[1]
    if not existing.startswith(REPORT_TITLE):
        existing = f"{REPORT_TITLE}\n\n{REPORT_INTRO}\n"
    return existing.rstrip() + "\n\n" + block + "\n"
