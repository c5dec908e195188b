"""`frvt compare`: the match score of two images, or why there is none."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.errors import FrvtError
from .backend import pipeline, with_backend
from .common import add_command, log


def cmd_compare(args) -> int:
    """The score of two images, or why there is none (exit 1)."""
    from frvt_runtime.template import decode, match, score_to_cosine
    from ..imagefile import read_image

    p = pipeline(args)
    results, bad = [], []
    for path in (args.image1, args.image2):
        try:
            r = p.create_template([read_image(Path(path))])
        except FrvtError as exc:  # unreadable: no template, as for a face not found
            bad.append(str(exc))
            continue
        results.append(r)
        if decode(r.templates[0]).failed:
            bad.append(f"{path}: {r.code.name} ({r.info})")
    if bad:
        log("no score: " + "; ".join(bad))
        return 1
    score, status = match(results[0].templates[0], results[1].templates[0])
    if status != "ok":  # (both templates decoded as embeddings: not expected)
        raise FrvtError(f"the two templates cannot be compared ({status})")
    cos = score_to_cosine(score)
    thr = p.settings.recognizer.same_threshold
    log(f"score {score:.1f}  cosine {cos:.4f}  -> {'same' if cos >= thr else 'different'} "
        f"person at cosine {thr}")
    return 0


def register(sub) -> None:
    p = with_backend(add_command(sub, "compare", cmd_compare, "match two images and print the score"))
    p.add_argument("image1", help="an image file")
    p.add_argument("image2", help="another image file; exit 1 if either gives no template")
