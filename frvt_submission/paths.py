"""Every filesystem location the build tools use, in one place."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = ROOT / "frvt.toml"
BUILD = ROOT / "build"
MODEL_CACHE = BUILD / "models"          # downloaded wheels, extracted + cleaned ONNX
TEST_IMAGES = BUILD / "test_images"     # registry-obtained images (face_recognition sdist)
COMPILED = BUILD / "compiled"           # TVM-exported model libraries, per target
TUNING_DB = ROOT / "tuning"             # committed MetaSchedule records, per model and target
SHARED_DATA = ROOT.parent / "shared" / "data"
SHARED_NIST = ROOT.parent / "shared" / "nist-frvt"  # a copy of NIST's validation package (11/, common/)
NIST_VALIDATE = BUILD / "nist-validate"  # the log of the last run of NIST's package

# The submission's top-level folders (NIST layout).
SUB_CONFIG = ROOT / "config"
SUB_LIB = ROOT / "lib"
SUB_DOC = ROOT / "doc"
SUB_VALIDATION = ROOT / "validation"
