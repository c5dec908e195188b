"""`frvt package`: the submission tarball (and .gpg), only after a passing validation of these files."""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..nist_headers import interface_versions
from .common import add_command, log, settings


def cmd_package(args) -> int:
    from ..package import build_tarball

    s = settings(args)
    outputs = build_tarball(s, paths.ROOT, Path(args.validation_output), Path(args.dist), log)
    for p in outputs:
        log(f"wrote {p}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "package", cmd_package, f"make libfrvt_11_<co>_<seq>.v{interface_versions().structs}.tar.gz "
                    "(and .gpg when a key is set); refuses unless the last validation passed on exactly these lib/ "
                    "and config/ files")
    p.add_argument("--validation-output", default=str(paths.SUB_VALIDATION / "output"),
                   help="the validation run to pack (its summary.json is checked)")
    p.add_argument("--dist", default=str(paths.ROOT / "dist"), help="where the archive is written")
