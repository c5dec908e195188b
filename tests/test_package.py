"""The submission archive: name, layout, and gpg encrypt+sign with a throw-away key."""

import json
import shutil
import subprocess
import tarfile

import pytest
from conftest import one_path_manifest

from frvt_runtime.errors import FrvtError
from frvt_submission.package import archive_name, build_tarball, sign_and_encrypt
from frvt_submission.validation.summary import SUMMARY_FILE, write_summary


@pytest.fixture
def fake_root(tmp_path):
    root = tmp_path / "root"
    for d in ("doc", "config", "lib"):
        (root / d).mkdir(parents=True)
    (root / "doc" / "version.txt").write_text("v\n")
    (root / "config" / "pipeline.json").write_text("{}")
    manifest = one_path_manifest({"detector": {}, "recognizer": {}}, "avx2")
    manifest["order"].insert(0, "avx512")
    manifest["paths"]["avx512"] = manifest["paths"]["avx2"]
    (root / "config" / "models.json").write_text(json.dumps(manifest))
    (root / "lib" / "libfrvt_11_oneml_001.so").write_bytes(b"\x7fELF")
    val = tmp_path / "val"
    (val / "input").mkdir(parents=True)
    (val / "os.txt").write_text("Debian GNU/Linux 12 (bookworm)\n")
    (val / "enroll.log").write_text("id image\n")
    write_summary(val, root, [], [], {"code_paths": CHECKED})
    return root, val


# What validation records of each code path: both checked by disassembly, one run here.
CHECKED = {"avx512": {"isa_checked": True, "run": "main run (the path this CPU picks)"},
           "avx2": {"isa_checked": True, "run": "forced run and timing"}}


def test_package_refuses_a_code_path_the_validation_never_looked_at(settings, fake_root, tmp_path):
    """NIST's machine may run either path: one neither run nor disassembled must not ship."""
    root, val = fake_root
    write_summary(val, root, [], [], {"code_paths": {"avx512": CHECKED["avx512"]}})
    assert "code path avx2 was neither run nor checked by disassembly" in _refusal(settings, root, val, tmp_path)
    write_summary(val, root, [], [], {"code_paths": {**CHECKED, "avx2": {"isa_checked": False, "run": False}}})
    assert "code path avx2 was neither run nor checked" in _refusal(settings, root, val, tmp_path)


def test_tarball_layout(settings, fake_root, tmp_path):
    root, val = fake_root
    [out] = build_tarball(settings, root, val, tmp_path / "dist", lambda m: None)
    assert out.name == archive_name(settings) == "libfrvt_11_oneml_001.v3.1.tar.gz"
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
    assert {"./doc/version.txt", "./config/pipeline.json", "./lib/libfrvt_11_oneml_001.so",
            "./validation/os.txt", "./validation/enroll.log", f"./validation/{SUMMARY_FILE}"} <= names
    assert not any(n.startswith("./validation/input") for n in names)


def _refusal(settings, root, val, tmp_path) -> str:
    with pytest.raises(FrvtError) as e:
        build_tarball(settings, root, val, tmp_path / "dist", lambda m: None)
    assert not (tmp_path / "dist" / archive_name(settings)).exists()
    return str(e.value)


def test_package_refuses_without_validation(settings, fake_root, tmp_path):
    root, val = fake_root
    (val / SUMMARY_FILE).unlink()
    assert "no validation summary" in _refusal(settings, root, val, tmp_path)


def test_package_refuses_a_library_named_for_other_settings(settings, fake_root, tmp_path):
    """frvt.toml's company changed after the build: the archive would be named for the new
    company with the old library inside, so package refuses until lib/ is rebuilt."""
    import dataclasses

    root, val = fake_root
    acme = dataclasses.replace(settings, submission=dataclasses.replace(settings.submission, company="acme"))
    msg = _refusal(acme, root, val, tmp_path)
    assert "lib/libfrvt_11_oneml_001.so does not match frvt.toml (libfrvt_11_acme_001.so)" in msg


def test_a_signing_key_without_nist_key_is_refused_before_compressing(settings, fake_root, tmp_path):
    import dataclasses

    root, val = fake_root
    keyed = dataclasses.replace(settings, submission=dataclasses.replace(settings.submission, gpg_key="me",
                                                                         gpg_recipient=""))
    assert "gpg_recipient (NIST's key) is empty" in _refusal(keyed, root, val, tmp_path)
    assert not (tmp_path / "dist").exists()  # nothing written, no unsigned archive left behind


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg not installed")
def test_a_key_missing_from_the_keyring_is_refused_before_compressing(settings, fake_root, tmp_path, monkeypatch):
    """A gpg_key of no key in the keyring was found by gpg only after the archive was compressed."""
    import dataclasses

    root, val = fake_root
    monkeypatch.setenv("GNUPGHOME", str(tmp_path / "empty-keyring"))
    (tmp_path / "empty-keyring").mkdir(mode=0o700)
    keyed = dataclasses.replace(settings, submission=dataclasses.replace(
        settings.submission, gpg_key="0xDEADBEEFDEADBEEF", gpg_recipient="0xFEEDFACEFEEDFACE"))
    assert "gpg_key: no secret key '0xDEADBEEFDEADBEEF' in the gpg keyring" in _refusal(keyed, root, val, tmp_path)
    assert not (tmp_path / "dist").exists()


def test_package_refuses_a_failed_validation(settings, fake_root, tmp_path):
    root, val = fake_root
    write_summary(val, root, ["match, 4 forks: driver exited 1: cannot read template x.template"], [], {})
    msg = _refusal(settings, root, val, tmp_path)
    assert "validation failed" in msg and "cannot read template x.template" in msg


@pytest.mark.parametrize("change", ["edit config", "add lib file", "remove config file"])
def test_package_refuses_a_stale_validation(settings, fake_root, tmp_path, change):
    root, val = fake_root
    if change == "edit config":
        (root / "config" / "pipeline.json").write_text('{"threshold": 0.1}')
        expect = "changed: config/pipeline.json"
    elif change == "add lib file":
        (root / "lib" / "libextra.so").write_bytes(b"\x7fELF2")
        expect = "added: lib/libextra.so"
    else:
        (root / "config" / "pipeline.json").unlink()
        expect = "removed: config/pipeline.json"
    msg = _refusal(settings, root, val, tmp_path)
    assert "stale" in msg and expect in msg


def test_doc_may_change_after_validation(settings, fake_root, tmp_path):
    root, val = fake_root
    (root / "doc" / "version.txt").write_text("v2\n")  # prose, not what NIST runs
    assert build_tarball(settings, root, val, tmp_path / "dist", lambda m: None)


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg not installed")
def test_gpg_encrypt_and_sign(tmp_path):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    uid = "Throwaway Tester <throwaway@example.invalid>"
    try:
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
    finally:  # the agent gpg started for this keyring outlived the test
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True)
