"""`frvt scale`: embedding wall time of one single-threaded process against N of them (or a cluster)."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.config_dir import MANIFEST_FILE
from frvt_runtime.errors import ConfigError

from .common import add_command, count, log, make_hint, output_option, progress


def cmd_scale(args) -> int:
    """One single-threaded worker process vs N of them (or a cluster) on one set of real images,
    measured in one run. Both sides are Dask workers with the same one-thread settings, so the
    baseline is the one process on one core that NIST-style embedding is, start-up included."""
    import os

    import numpy as np
    from tabulate import tabulate

    from ..compile.isa_class import host_cpu_name
    from ..evaluate import embed_images
    from ..scale import DaskEmbedder, scale_set

    config_dir = Path(args.config_dir)
    if not (config_dir / MANIFEST_FILE).is_file():  # found before gigabytes of images are written, not after
        raise ConfigError(f"no compiled models in {config_dir} ({MANIFEST_FILE} missing): run "
                          f"`{make_hint(args, 'compile')}` first, or give --config-dir")
    images = scale_set(args.images)
    log(f"{len(images)} images in {images[0].parent}")
    runs = {}
    for label, workers, scheduler in (("1 process", 1, ""), (f"{args.workers} processes", args.workers,
                                                            args.scheduler)):
        dask = DaskEmbedder(config_dir, workers, scheduler, cache=False, log=log)
        runs[label] = (embed_images(dask, images, progress(label, "images")), dask.last)
    (e1, r1), (e2, r2) = runs.values()
    same = all((e1[p] is None) == (e2[p] is None) and (e1[p] is None or np.array_equal(e1[p], e2[p]))
               for p in images)
    log(tabulate([[r["workers"], len(images), f"{r['seconds']:.1f}", f"{len(images) / r['seconds']:.1f}",
                   f"{r['seconds'] / r1['seconds']:.2f}"] for r in (r1, r2)],
                 headers=["embedding on", "images", "wall s", "images/s", "time vs 1 process"], tablefmt="github"))
    log(f"embeddings identical: {'yes' if same else 'NO'}; this machine: {os.cpu_count()} cores, "
        f"{host_cpu_name()}")
    return 0 if same else 1


def register(sub) -> None:
    p = add_command(sub, "scale", cmd_scale, "embedding wall time: one single-threaded process vs N (a Dask "
                    "LocalCluster, or --scheduler) on N real images (registry + ../shared photos and variants)")
    p.add_argument("--images", type=count, default=5000,
                   help="images embedded by each side (default 5000: real photos and variants of them, "
                        "written once to build/scale-set at ~0.9 MB each, ~4.5 GB)")
    p.add_argument("--workers", type=count, default=2, help="local worker processes, one thread each")
    p.add_argument("--scheduler", default="", help="a Dask cluster at tcp://HOST:PORT instead of local workers")
    output_option(p, "--config-dir", lambda o: o.config, "config/", "compiled config folder")
