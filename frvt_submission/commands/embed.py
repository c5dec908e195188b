"""`frvt embed`: detect, align and embed images; one line per image with its eyes and template."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.errors import FrvtError
from .backend import pipeline, with_backend
from .common import add_command, log


def cmd_embed(args) -> int:
    """One line per image; exit 1 when any image gave no template (unreadable, or no face)."""
    from frvt_runtime.template import decode
    from ..imagefile import read_image

    p = pipeline(args)
    failed = 0
    for path in args.images:
        try:
            r = p.create_template([read_image(Path(path))])
        except FrvtError as exc:
            log(f"{path}: {exc}")
            failed += 1
            continue
        t = decode(r.templates[0])
        e = r.eyes[0]
        eyes = f"left=({e.xleft},{e.yleft}) right=({e.xright},{e.yright})" if e.left_assigned else "none"
        log(f"{path}: {r.code.name} template={len(r.templates[0])} bytes eyes {eyes} "
            f"embedding={'failed' if t.failed else [round(float(x), 4) for x in t.embedding[:4]]}"
            + (f" ({r.info})" if r.info else ""))
        failed += t.failed
    if failed:
        log(f"{failed} of {len(args.images)} image(s) gave no template")
    return 1 if failed else 0


def register(sub) -> None:
    p = with_backend(add_command(sub, "embed", cmd_embed,
                                 "detect, align and embed images; print eyes and template size"))
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, PPM/PGM...); exit 1 if any gives no template")
