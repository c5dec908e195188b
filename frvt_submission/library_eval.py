"""eval --backend library: embeddings from the built library's own templates, made by the NIST driver."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from frvt_runtime import template
from frvt_runtime.config import RuntimeSettings
from frvt_runtime.errors import FrvtError, TemplateFormatError

from . import paths
from .imagefile import read_image
from .progress import heartbeat


class LibraryEmbedder:
    """What evaluate needs of a pipeline (settings, embed_all), answered by lib/ + config/ through
    validate11 createTemplate, two forks, as NIST would run them; each template is decoded.
    settings: config/'s (the thresholds the library runs with); library_name: lib/'s file, which
    the settings file names ([submission] company and sequence)."""

    def __init__(self, settings: RuntimeSettings, library_name: str, built: paths.Outputs = paths.DEFAULT_OUTPUTS,
                 work: Path | None = None, log=print, build_hint: str = "make build"):
        from .validation.run import Runner, build_driver

        root, work = built.root, work or built.eval_library
        lib = built.lib / library_name
        if not lib.is_file() or not (root / "config" / "models.json").is_file():
            raise FrvtError(f"{lib} or config/ is missing: run `{build_hint}` first")
        self.settings, self.root, self.work, self.log = settings, root, work, log
        self.runner = Runner(build_driver(lib, built.driver, log), root, work, log)

    def embed_all(self, images: list[Path], progress=None) -> dict[Path, np.ndarray | None]:
        from .validation.inputs import write_pnm

        folder = self.work / "images"
        folder.mkdir(parents=True, exist_ok=True)
        rows, unreadable = [], set()
        for i, path in enumerate(images):
            try:
                rows.append(f"i{i} {write_pnm(read_image(path), folder / f'{i:06d}')} faceunknown")
            except FrvtError:  # as the tvm backend counts it: a failed enrolment, not the end of the run
                unreadable.add(i)
            if progress:
                progress(i + 1, len(images))
        if not rows:
            return {path: None for path in images}
        lst = self.work / "eval.txt"
        lst.write_text("\n".join(rows) + "\n")
        with heartbeat(self.log, f"library: {len(rows)} templates"):
            code, secs, _, text = self.runner.run("createTemplate", "eval", lst, 2, self.root / "config")
        if code != 0:
            raise FrvtError(f"the library's createTemplate run failed ({code}): {text[-1000:]}")
        self.log(f"library: {len(rows)} templates in {secs:.1f} s")
        out = {}
        for i, path in enumerate(images):
            if i in unreadable:
                out[path] = None
                continue
            try:
                t = template.decode((self.work / "templates" / f"i{i}.template").read_bytes())
            except (OSError, TemplateFormatError) as exc:
                raise FrvtError(f"template of {path} unreadable: {exc}") from None
            out[path] = t.embedding
        return out


def compare_backends(library: dict[Path, np.ndarray | None], python: dict[Path, np.ndarray | None],
                     pairs, threshold: float) -> dict:
    """Per listed pair: the library's cosine vs the Python path's; decisions at the threshold."""
    def cos(emb, p):
        a, b = emb[p.img1], emb[p.img2]
        return -1.0 if a is None or b is None else float(np.dot(a, b))

    diffs, disagree = [], 0
    for p in pairs:
        a, b = cos(library, p), cos(python, p)
        diffs.append(abs(a - b))
        disagree += (a >= threshold) != (b >= threshold)
    fte_diff = sorted(str(k) for k in library if (library[k] is None) != (python.get(k) is None))
    return {"pairs": len(diffs), "disagree": disagree, "max_diff": max(diffs, default=0.0), "fte_diff": fte_diff}
