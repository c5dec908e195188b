"""`frvt parity`: each code path of config/ this CPU runs, against onnxruntime on real faces."""

from __future__ import annotations

from pathlib import Path

from ..measurements import PARITY_JSON
from .common import add_command, log, output_option, require_built_from, settings


def cmd_parity(args) -> int:
    from frvt_runtime.config_dir import path_names, read_manifest
    from ..compile.parity import check_parity
    from ..measurements import write_measurement
    from ..testdata import test_images
    from ..validation.stand_in import unrunnable

    s = settings(args, describe=False)  # (compile, which runs it, has described them)
    config_dir = Path(args.config_dir)
    require_built_from(args, s, config_dir)  # (the reference comes from s, the compiled models from config_dir)
    images = sorted(p for p in test_images().iterdir() if p.suffix != ".csv")
    lacking = unrunnable(config_dir)
    results, ok = {}, True
    for path in path_names(read_manifest(config_dir)):
        if path in lacking:  # its code would die of an illegal instruction here
            log(f"parity [{path}]: not checked: this CPU lacks {', '.join(lacking[path])}")
            continue
        r = results[path] = check_parity(s, config_dir, images, path)
        if r["min_cosine"] is None:
            log(f"parity [{path}]: no face found in {r['images']} images -> FAIL")
            ok = False
            continue
        sizes = ", ".join(f"{w}x{h}" for w, h in r["sizes"])
        log(f"parity [{path}] vs onnxruntime on {r['faces']} faces in {r['images']} images (detector at {sizes}): "
            f"min cosine {r['min_cosine']:.6f}, max box diff {r['max_box_px']:.3f} px, "
            f"max landmark diff {r['max_landmark_px']:.3f} px -> {'OK' if r['ok'] else 'FAIL'}")
        ok = ok and r["ok"]
    out = write_measurement(Path(args.json), {"paths": results, "not_run": sorted(lacking), "ok": ok and bool(results)},
                            config_dir)
    log(f"wrote {out}")
    return 0 if ok and results else 1


def register(sub) -> None:
    p = add_command(sub, "parity", cmd_parity, "compare config/'s compiled models with onnxruntime on real faces")
    output_option(p, "--config-dir", lambda o: o.config, "config/", "compiled config folder")
    output_option(p, "--json", lambda o: o.measurements / PARITY_JSON, f"build/measurements/{PARITY_JSON}",
                  "where the result goes, with its stamp, for `frvt measurements`", written="file")
