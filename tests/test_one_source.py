"""One place per fact: each fact the Python and C++ sides share has one source, the others read it."""

from frvt_runtime import template
from frvt_submission import paths

CPP = paths.ROOT / "cpp_api"


def test_the_cpp_side_reads_the_template_format_from_the_generated_header():
    """hostile11 wrote the magic, version and offsets by hand: a format change would have left
    its synthetic templates in the old layout, testing nothing."""
    for f in (CPP / "src" / "template_match.cpp", CPP / "tests" / "fuzz_match.cpp", CPP / "tests" / "hostile11.cpp"):
        text = f.read_text()
        assert '#include "frvt_template_format.h"' in text, f
        assert f"{template.MAGIC:08x}" not in text.lower(), f"{f} writes the magic itself"
