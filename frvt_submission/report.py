"""`frvt report`: one self-contained HTML page for a reviewer: accuracy with curves, validation, timing, sizes, build."""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

import numpy as np

from frvt_runtime.errors import FrvtError

from . import paths

# Runs in the reader's browser: marks the page when an image failed to decode or the layout
# overflows the window, so a headless browser can check the page (tests/test_report.py).
SELF_CHECK = """<script>
window.addEventListener('load', function () {
  var bad = [];
  document.querySelectorAll('img').forEach(function (im) {
    if (!im.complete || im.naturalWidth === 0) bad.push('broken image ' + im.alt);
  });
  if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push('page wider than the window');
  document.body.setAttribute('data-check', bad.length ? bad.join('; ') : 'ok');
});
</script>"""

STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 1180px; margin: 1.5em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.8em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
.ok { color: #176617; font-weight: bold; } .bad { color: #a31515; font-weight: bold; }
.note { color: #555; font-size: 0.9em; } pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
</style>"""


def _table(headers: list, rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def default_pair_files() -> list[Path]:
    """The registry images' pairs.csv, plus every ../shared/data set with one."""
    from .testdata import test_images

    shared = sorted(paths.SHARED_DATA.glob("*/pairs.csv")) if paths.SHARED_DATA.is_dir() else []
    return [test_images() / "pairs.csv", *shared]


def set_names(pair_files: list[Path]) -> list[str]:
    """Each pairs file's set name: its folder's (as resolved: "pairs.csv" alone has none), with the
    file's stem added where two files would share one (their rows and curves were merged), then
    as many folders above it as keep every name apart (eval.json keeps its sets by name). A file
    given twice is refused: its set would be counted twice."""
    files = [Path(f).resolve() for f in pair_files]
    for i, f in enumerate(files):
        if f in files[:i]:
            raise FrvtError(f"pairs file {pair_files[i]} is given twice")

    def name(f: Path, level: int) -> str:
        if level == 0:
            return f.parent.name
        if level > len(f.parent.parts):
            return str(f)
        return "/".join(f.parent.parts[len(f.parent.parts) - level:]) + f"/{f.stem}"

    levels = [0] * len(files)
    while True:
        names = [name(f, level) for f, level in zip(files, levels)]
        shared = [i for i, n in enumerate(names) if names.count(n) > 1]
        if not shared:
            return names
        for i in shared:
            levels[i] += 1


# What made a page's embeddings, by --backend: a reference page looked like the build's.
BACKENDS = {"tvm": "the compiled models of config/ (TVM runtime, in this process)",
            "onnxruntime": "the onnxruntime reference of the settings file's models, not the compiled build",
            "library": "the built library's templates (lib/ + config/ through the NIST driver)"}


def accuracy_section(pipeline, pair_files: list[Path], log, backend: str = "tvm") -> tuple[str, dict]:
    """The accuracy part of the page; backend: what made the embeddings (BACKENDS), said first."""
    from .curves import det_roc_png, histograms_png
    from .evaluate import (ALL_PAIRS_HEADERS, SUMMARY_HEADERS, all_pairs_row, evaluate, evaluate_all_pairs,
                           read_pairs, summary_row, unreadable_images, unreadable_line)

    threshold = pipeline.settings.recognizer.same_threshold
    rows, all_rows, curves = [], [], {}
    sets = [(name, read_pairs(f)) for name, f in zip(set_names(pair_files), pair_files)]  # all read first
    for name, pairs in sets:
        log(f"report: {name}, {len(pairs)} pairs")
        r = evaluate(pipeline, pairs, threshold)
        if why := unreadable_images(r["embeddings"]):
            log(unreadable_line(name, why, r["images"]))
        rows.append(summary_row(name, r))
        a = evaluate_all_pairs(pipeline, pairs, emb=r["embeddings"])
        all_rows.append(all_pairs_row(name, a))
        curves[name] = a["scores"]
    parts = ["<h2>Accuracy</h2>", f"<p class='note'>Embeddings from {html.escape(BACKENDS[backend])}.</p>",
             f"<p class='note'>Operating threshold: cosine {threshold:.3f}. Listed pairs as each CSV gives them; "
             f"then every pair of the same images (identities from id1/id2 or folders), FNMR with its 95% "
             f"Wilson interval where the impostor count supports the FMR.</p>",
             _table(SUMMARY_HEADERS, rows), _table(ALL_PAIRS_HEADERS, all_rows),
             _img(det_roc_png(curves, threshold), "DET and ROC curves"),
             _img(histograms_png(curves, threshold), "genuine and impostor score histograms")]
    return "\n".join(parts), {"sets": [r[0] for r in rows]}


def validation_section(out: Path, root: Path) -> str:
    from .validation.summary import SUMMARY_FILE, gate, read_summary

    f = out / SUMMARY_FILE
    if not f.is_file():
        return f"<h2>Validation</h2><p class='bad'>No validation run ({html.escape(str(f))} missing).</p>"
    d, why = read_summary(out)
    if d is None:
        return f"<h2>Validation</h2><p class='bad'>{html.escape(why)}</p>"
    stale = gate(out, root)
    cls = "ok" if d.get("result") == "passed" and not stale else "bad"
    s = d.get("scores") or {}
    score_rows = [[k, f"{v[0]:.0f}", f"{v[1]:.0f}", v[2]] for k, v in s.items() if isinstance(v, list)]
    host = d.get("build_host", {})
    parts = ["<h2>Validation</h2>",
             f"<p class='{cls}'>{html.escape(str(d.get('result')))} at {html.escape(str(d.get('finished')))}"
             f"{' (stale: ' + html.escape('; '.join(stale)[:400]) + ' ...)' if stale else ''}</p>",
             f"<p class='note'>Checked for {html.escape(str(d.get('nist_os')))}; run on "
             f"{html.escape(str(host.get('os')))}, {html.escape(str(host.get('cpu')))}.</p>"]
    if score_rows:
        parts.append(_table(["pairs", "lowest simScore", "highest simScore", "count"], score_rows))
    for kind in ("errors", "warnings"):
        items = d.get(kind) or []
        if items:
            parts.append(f"<p>{kind}:</p><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
    return "\n".join(parts)


def timing_section(settings, folders: list[Path]) -> str:
    from .curves import latency_png, stage_bars_png
    from .validation.timing import STAGE_HEADERS, TIMING_HEADERS, summarise_timing

    sub = settings.submission
    for folder in folders:
        if (folder / "timing.log").is_file():
            t = summarise_timing(folder, sub.budget_template_ms, sub.budget_match_ms)
            ms = np.array([float(ln.split()[4]) for ln in (folder / "timing.log").read_text().splitlines()[1:]
                           if ln.strip()])
            parts = ["<h2>Timing</h2>",
                     f"<p class='note'>One process pinned to one core, one image per call "
                     f"({html.escape(str(folder))}). Budget {sub.budget_template_ms:.0f} ms per template, "
                     f"{sub.budget_match_ms * 1000:.0f} us per match.</p>",
                     _table(TIMING_HEADERS, t["table"]),
                     f"<p>match: {t['match_us']:.2f} us per call; threads {t['threads']}; peak RSS "
                     f"{t['peak_rss_mb']:.0f} MB</p>"]
            if t.get("stages"):
                parts += [_table(STAGE_HEADERS, t["stages"]), _img(stage_bars_png(t["stages"]), "time per stage")]
            parts.append(_img(latency_png(ms, sub.budget_template_ms), "latency histogram"))
            return "\n".join(parts)
    return "<h2>Timing</h2><p class='bad'>No timing log: run `make timing` or validation.</p>"


def build_section(settings, built: paths.Outputs) -> str:
    from .package import archive_name
    from .validation.closure import folder_mb
    from frvt_runtime.config_dir import model_entries, path_names, read_manifest

    lib_mb, config_mb = folder_mb(built.lib), folder_mb(built.config)
    tarball = built.dist / archive_name(settings)
    rows = [["lib/", f"{lib_mb:.1f} MB"], ["config/", f"{config_mb:.1f} MB"],
            ["lib/ + config/", f"{lib_mb + config_mb:.1f} MB"],
            ["tarball", f"{tarball.stat().st_size / 1e6:.1f} MB" if tarball.is_file() else "not built"]]
    manifest = read_manifest(built.config)
    models = [[name, e.get("file"), e.get("sha256", "")[:16], e.get("cpu"), e.get("isa_class"), e.get("tuned"),
               f"{e.get('records')} ({e.get('records_class')})", e.get("kernels_without_records")]
              for path in path_names(manifest) for name, e in model_entries(manifest, path).items()]
    version = built.doc / "version.txt"
    return "\n".join(["<h2>Sizes and build</h2>", _table(["what", "size"], rows),
                      _table(["model", "file", "sha256 (first 16)", "built for", "class", "tuned", "records",
                              "kernels without records"], models),
                      f"<p class='note'>[submission] target: {html.escape(settings.submission.target)}; "
                      f"library {html.escape(settings.submission.library_name)}</p>",
                      f"<pre>{html.escape(version.read_text()) if version.is_file() else 'doc/version.txt missing'}"
                      f"</pre>"])


def write_report(settings, pipeline, pair_files: list[Path], output: Path, validation_out: Path,
                 timing_folders: list[Path], built: paths.Outputs, log=print, backend: str = "tvm") -> Path:
    """built: the settings file's outputs, whose lib/, config/, doc/ and tarball the page describes;
    backend: what made the embeddings (BACKENDS), said on the page."""
    accuracy, _ = accuracy_section(pipeline, pair_files, log, backend)
    title = f"{settings.submission.library_name}: FRVT 1:1 submission report"
    page = "\n".join([
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title>", STYLE, SELF_CHECK, "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Written {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by `frvt report`; every figure comes "
        f"from this machine's files and runs.</p>",
        accuracy, validation_section(validation_out, built.root), timing_section(settings, timing_folders),
        build_section(settings, built), "</body></html>"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    return output
