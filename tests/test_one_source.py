"""One place per fact: each fact the Python and C++ sides share has one source, the others read it."""

import ast

from frvt_runtime import template
from frvt_submission import paths

CPP = paths.ROOT / "cpp_api"


def _code_strings(f) -> list[str]:
    """The string constants of a Python file that code uses: docstrings (prose) left out."""
    tree = ast.parse(f.read_text())
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]


def test_nists_cpu_is_named_once():
    """tvm_build.NIST_CPU and isa_class.CLASSES["avx512"] each wrote "skylake-avx512": one edited
    alone would limit builds to one CPU's features and tune records for another."""
    from frvt_submission.compile import isa_class

    assert isa_class.CLASSES["avx512"][0] == isa_class.NIST_CPU
    found = {str(f.relative_to(paths.ROOT)): n for pkg in ("frvt_submission", "frvt_runtime")
             for f in sorted((paths.ROOT / pkg).rglob("*.py"))
             if (n := sum(isa_class.NIST_CPU in s for s in _code_strings(f)))}
    assert found == {"frvt_submission/compile/isa_class.py": 1}, "name NIST's CPU as isa_class.NIST_CPU"


def test_the_cpp_side_reads_the_template_format_from_the_generated_header():
    """hostile11 wrote the magic, version and offsets by hand: a format change would have left
    its synthetic templates in the old layout, testing nothing."""
    for f in (CPP / "src" / "template_match.cpp", CPP / "tests" / "fuzz_match.cpp", CPP / "tests" / "hostile11.cpp"):
        text = f.read_text()
        assert '#include "frvt_template_format.h"' in text, f
        assert f"{template.MAGIC:08x}" not in text.lower(), f"{f} writes the magic itself"
