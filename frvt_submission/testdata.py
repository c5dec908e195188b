"""Registry-obtained test images: the face_recognition 1.3.0 sdist's tests/test_images, with a pairs.csv."""

from __future__ import annotations

import itertools
import tarfile
from pathlib import Path

from . import paths
from frvt_runtime.errors import ConfigError
from .models.sources import download_package, verify

SDIST = "face_recognition==1.3.0"
SDIST_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
MEMBER_DIR = "face_recognition-1.3.0/tests/test_images/"
# Who is in each photo (32bit.png is a 32-bit RGBA copy of an Obama photo).
IDENTITY = {"obama.jpg": "obama", "obama2.jpg": "obama", "obama3.jpg": "obama",
            "obama_partial_face.jpg": "obama", "obama_partial_face2.jpg": "obama",
            "32bit.png": "obama", "biden.jpg": "biden"}


def test_images(dest: Path = paths.TEST_IMAGES) -> Path:
    """Extract the images once; return the folder holding them and pairs.csv."""
    pairs_csv = dest / "pairs.csv"
    if pairs_csv.is_file() and all((dest / n).is_file() for n in IDENTITY):
        return dest
    sdist = verify(download_package(SDIST, paths.MODEL_CACHE / "wheels", sdist=True), SDIST_SHA256)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tf:
        for name in IDENTITY:
            member = tf.getmember(MEMBER_DIR + name)
            src = tf.extractfile(member)
            if src is None:
                raise ConfigError(f"{sdist.name}: {name} is not a file")
            (dest / name).write_bytes(src.read())
    rows = ["img1,img2,label,id1,id2"]
    for a, b in itertools.combinations(sorted(IDENTITY), 2):
        ia, ib = IDENTITY[a], IDENTITY[b]
        rows.append(f"{a},{b},{int(ia == ib)},{ia},{ib}")
    pairs_csv.write_text("\n".join(rows) + "\n")
    return dest
