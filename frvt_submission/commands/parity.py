"""`frvt parity`: config/'s compiled models against onnxruntime on real faces."""

from __future__ import annotations

from pathlib import Path

from ..measurements import PARITY_JSON
from .common import add_command, log, output_option, settings


def cmd_parity(args) -> int:
    from ..compile.parity import check_parity
    from ..measurements import write_measurement
    from ..testdata import test_images

    s = settings(args, describe=False)  # (compile, which runs it, has described them)
    images = sorted(p for p in test_images().iterdir() if p.suffix != ".csv")
    r = check_parity(s, Path(args.config_dir), images)
    out = write_measurement(Path(args.json), r, Path(args.config_dir))
    if r["min_cosine"] is None:
        log(f"parity: no face found in {r['images']} images -> FAIL (wrote {out})")
        return 1
    sizes = ", ".join(f"{w}x{h}" for w, h in r["sizes"])
    log(f"parity vs onnxruntime on {r['faces']} faces in {r['images']} images (detector at {sizes}): "
        f"min cosine {r['min_cosine']:.6f}, max box diff {r['max_box_px']:.3f} px, "
        f"max landmark diff {r['max_landmark_px']:.3f} px -> {'OK' if r['ok'] else 'FAIL'}")
    log(f"wrote {out}")
    return 0 if r["ok"] else 1


def register(sub) -> None:
    p = add_command(sub, "parity", cmd_parity, "compare config/'s compiled models with onnxruntime on real faces")
    output_option(p, "--config-dir", lambda o: o.config, "config/", "compiled config folder")
    output_option(p, "--json", lambda o: o.measurements / PARITY_JSON, f"build/measurements/{PARITY_JSON}",
                  "where the result goes, with its stamp, for `frvt measurements`")
