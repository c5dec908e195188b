"""The submission archive: libfrvt_11_<co>_<seq>.v<structs version>.tar.gz (+ gpg encrypt-and-sign when configured)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from frvt_runtime.errors import FrvtError

from .config import Settings
from .nist_headers import interface_versions
from .progress import heartbeat


def archive_name(settings: Settings) -> str:
    """NIST's name for the tarball: the library's, and the version of the structs it is built against."""
    sub = settings.submission
    return f"libfrvt_11_{sub.company}_{sub.sequence}.v{interface_versions().structs}.tar.gz"


def build_tarball(settings: Settings, root: Path, validation_out: Path, dist: Path, log=print,
                  build_hint: str = "make submission") -> list[Path]:
    """./doc ./config ./lib ./validation (logs, os.txt, summary.json of the last validation run), only
    when that run passed on exactly these lib/ and config/ files."""
    for folder in ("doc", "config", "lib"):
        if not (root / folder).is_dir():
            raise FrvtError(f"{folder}/ is missing: run `{build_hint}` first")
    from .validation.run import check_layout
    from .validation.summary import gate

    # The gate compares files with the validated ones; the layout check also holds lib/'s name
    # to frvt.toml, so that the archive's name and the library inside it agree.
    refusals = check_layout(root, settings) + gate(validation_out, root)
    if refusals:
        raise FrvtError("package refused: " + "; ".join(refusals))
    sub = settings.submission
    if sub.gpg_key:  # before minutes of compression, not after
        usable_gpg(sub.gpg_recipient, sub.gpg_key)
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / archive_name(settings)
    tmp = out.with_suffix(".part")
    with heartbeat(log, f"compressing {out.name}"), tarfile.open(tmp, "w:gz") as tf:
        for folder in ("doc", "config", "lib"):
            tf.add(root / folder, arcname=f"./{folder}")
        for f in sorted(validation_out.iterdir()):
            if f.name in ("input",):  # the prepared inputs are ours, not NIST's concern
                continue
            tf.add(f, arcname=f"./validation/{f.name}")
    tmp.replace(out)
    log(f"archive: {out} ({out.stat().st_size / 1e6:.1f} MB)")
    outputs = [out]
    if sub.gpg_key:
        outputs.append(sign_and_encrypt(out, sub.gpg_key, sub.gpg_recipient))
    return outputs


def usable_gpg(recipient: str, key: str = "", gpg_home: Path | None = None) -> str:
    """gpg's path; FrvtError when signing cannot work: no recipient, no gpg, or (given key) no secret
    key of that id or no public key of the recipient in the keyring."""
    if not recipient:
        raise FrvtError("gpg_key is set but gpg_recipient (NIST's key) is empty")
    gpg = shutil.which("gpg")
    if gpg is None:
        raise FrvtError("gpg is not installed (apt install gnupg), and [submission] gpg_key asks for it")
    home = ["--homedir", str(gpg_home)] if gpg_home is not None else []
    for listing, wanted, what in (("--list-secret-keys", key, "gpg_key: no secret key"),
                                  ("--list-keys", recipient, "gpg_recipient: no public key")):
        if wanted and subprocess.run([gpg, "--batch", *home, listing, wanted], capture_output=True).returncode != 0:
            raise FrvtError(f"[submission] {what} {wanted!r} in the gpg keyring (gpg {listing} {wanted}; import "
                            f"it first, e.g. NIST's key from its FRTE page)")
    return gpg


def sign_and_encrypt(archive: Path, key: str, recipient: str, gpg_home: Path | None = None) -> Path:
    """gpg --default-key KEY --output A.gpg --encrypt --recipient NIST --sign A (as NIST asks)."""
    gpg = usable_gpg(recipient, key, gpg_home)
    out = archive.with_name(archive.name + ".gpg")
    cmd = [gpg, "--batch", "--yes", "--trust-model", "always"]
    if gpg_home is not None:
        cmd += ["--homedir", str(gpg_home)]
    cmd += ["--default-key", key, "--output", str(out), "--encrypt", "--recipient", recipient, "--sign", str(archive)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FrvtError(f"gpg failed: {proc.stderr.strip()[-1000:]}")
    return out
