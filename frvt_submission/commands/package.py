"""`frvt package`: the submission tarball (and .gpg), only after a passing validation of these files."""

from __future__ import annotations

from pathlib import Path

from ..nist_headers import interface_versions
from .common import add_command, log, make_hint, output_option, settings


def cmd_package(args) -> int:
    from ..package import build_tarball

    s = settings(args)
    outputs = build_tarball(s, args.outputs.root, Path(args.validation_output), Path(args.dist), log,
                            make_hint(args, "submission"))
    for p in outputs:
        log(f"wrote {p}")
    return 0


def register(sub) -> None:
    p = add_command(sub, "package", cmd_package, f"make libfrvt_11_<co>_<seq>.v{interface_versions().structs}.tar.gz "
                    "(and .gpg when a key is set); refuses unless the last validation passed on exactly these lib/ "
                    "and config/ files")
    output_option(p, "--validation-output", lambda o: o.validation_output, "validation/output/",
                  "the validation run to pack (its summary.json is checked)")
    output_option(p, "--dist", lambda o: o.dist, "dist/", "where the archive is written", written="folder")
