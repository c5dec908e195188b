"""The submission archive: name, layout, and gpg encrypt+sign with a throw-away key."""

import shutil
import subprocess
import tarfile

import pytest

from frvt_submission.package import archive_name, build_tarball, sign_and_encrypt


@pytest.fixture
def fake_root(tmp_path):
    root = tmp_path / "root"
    for d in ("doc", "config", "lib"):
        (root / d).mkdir(parents=True)
    (root / "doc" / "version.txt").write_text("v\n")
    (root / "config" / "pipeline.json").write_text("{}")
    (root / "lib" / "libfrvt_11_oneml_001.so").write_bytes(b"\x7fELF")
    val = tmp_path / "val"
    (val / "input").mkdir(parents=True)
    (val / "os.txt").write_text("Debian GNU/Linux 12 (bookworm)\n")
    (val / "enroll.log").write_text("id image\n")
    return root, val


def test_tarball_layout(settings, fake_root, tmp_path):
    root, val = fake_root
    [out] = build_tarball(settings, root, val, tmp_path / "dist", lambda m: None)
    assert out.name == archive_name(settings) == "libfrvt_11_oneml_001.v3.1.tar.gz"
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
    assert {"./doc/version.txt", "./config/pipeline.json", "./lib/libfrvt_11_oneml_001.so",
            "./validation/os.txt", "./validation/enroll.log"} <= names
    assert not any(n.startswith("./validation/input") for n in names)


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg not installed")
def test_gpg_encrypt_and_sign(tmp_path):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    uid = "Throwaway Tester <throwaway@example.invalid>"
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--passphrase", "", "--quick-gen-key", uid,
                    "ed25519", "sign", "never"], check=True, capture_output=True)
    fpr = subprocess.run(["gpg", "--homedir", str(home), "--list-keys", "--with-colons"], check=True,
                         capture_output=True, text=True).stdout
    fpr = [ln.split(":")[9] for ln in fpr.splitlines() if ln.startswith("fpr")][0]
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--passphrase", "", "--quick-add-key", fpr,
                    "cv25519", "encr", "never"], check=True, capture_output=True)
    archive = tmp_path / "libfrvt_11_oneml_001.v3.1.tar.gz"
    archive.write_bytes(b"archive bytes")
    out = sign_and_encrypt(archive, fpr, fpr, gpg_home=home)
    assert out.name.endswith(".tar.gz.gpg") and b"archive bytes" not in out.read_bytes()
    dec = subprocess.run(["gpg", "--batch", "--homedir", str(home), "--decrypt", str(out)], capture_output=True)
    assert dec.returncode == 0 and dec.stdout == b"archive bytes"
    assert b"Good signature" in dec.stderr
