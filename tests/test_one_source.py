"""One place per fact: each fact the Python and C++ sides share has one source, the others read it."""

import ast

from frvt_runtime import template
from frvt_submission import paths
from conftest import one_path_manifest

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


def test_interface_versions_come_from_nists_headers(tmp_path, monkeypatch, settings):
    """docs.py wrote "FRVT structs 3.1, FRVT 1:1 API 6.0" and package.py "3.1" beside the headers'
    own definitions: a header of a new NIST version would have shipped under the old one's name."""
    import json
    import shutil

    from frvt_submission import nist_headers
    from frvt_submission.docs import write_version_file
    from frvt_submission.package import archive_name

    assert nist_headers.interface_versions() == nist_headers.InterfaceVersions(structs="3.1", api="6.0")
    include = tmp_path / "include"
    shutil.copytree(CPP / "include", include)
    for name, old, new in (("frvt_structs.h", "FRVT_STRUCTS_MINOR_VERSION{1}", "FRVT_STRUCTS_MINOR_VERSION{2}"),
                           ("frvt11.h", "API_MAJOR_VERSION{6}", "API_MAJOR_VERSION{7}")):
        text = (include / name).read_text()
        assert old in text
        (include / name).write_text(text.replace(old, new))
    monkeypatch.setattr(nist_headers, "INCLUDE", include)
    assert archive_name(settings) == "libfrvt_11_oneml_001.v3.2.tar.gz"
    config = tmp_path / "config"
    config.mkdir()
    entry = {"file": "m.so", "sha256": "0" * 64, "cpu": "haswell"}
    (config / "models.json").write_text(json.dumps(one_path_manifest({"detector": entry, "recognizer": entry})))
    version_txt = write_version_file(settings, config, tmp_path / "doc").read_text()
    assert version_txt.splitlines()[1] == "FRVT structs 3.2, FRVT 1:1 API 7.0"


def test_the_driver_expects_the_versions_nists_headers_define():
    """validate11.cpp compares the library's reported versions with the ones build_driver reads
    from NIST's headers, never with numbers of its own."""
    import re

    src = (paths.ROOT / "cpp_api" / "driver" / "validate11.cpp").read_text()
    assert "EXPECT_STRUCTS_MAJOR" in src and "EXPECT_API_MINOR" in src
    assert not re.search(r"_VERSION\s*!=\s*\d", src), "a version number typed into the driver"


def test_the_thread_variables_are_one_list():
    """runtime_env.cpp and runtime_env.py each listed the thread pools' variables, and the lists
    had drifted (the C++ one lacked VECLIB_MAXIMUM_THREADS). The C++ side now includes a header
    the build generates from the Python tuple; the tooling's single-thread runs read the tuple."""
    import re

    from frvt_runtime.runtime_env import THREAD_VARIABLES
    from frvt_submission.bridge.headers import threads_header

    cpp = (CPP / "src" / "runtime_env.cpp").read_text()
    assert '#include "frvt_thread_variables.h"' in cpp and "{FRVT_THREAD_VARIABLES}" in cpp
    assert not re.findall(r'"[A-Z]+_(?:NUM|MAXIMUM)_THREADS"', cpp), "runtime_env.cpp lists variables itself"
    define = next(line for line in threads_header().splitlines() if line.startswith("#define FRVT_THREAD_VARIABLES "))
    assert re.findall(r'"([A-Z_]+)"', define) == list(THREAD_VARIABLES)
    found = {str(f.relative_to(paths.ROOT)) for pkg in ("frvt_submission", "frvt_runtime")
             for f in sorted((paths.ROOT / pkg).rglob("*.py")) if set(_code_strings(f)) & set(THREAD_VARIABLES)}
    assert found == {"frvt_runtime/runtime_env.py"}, "read frvt_runtime.runtime_env.THREAD_VARIABLES"
    # The Makefile's single-thread runs and the RPC measuring server ask Python for the list too.
    for script in ("Makefile", "scripts/rpc_server.sh"):
        text = (paths.ROOT / script).read_text()
        assert not re.findall(r"[A-Z]+_(?:NUM|MAXIMUM)_THREADS=", text), f"{script} lists variables itself"
        assert "runtime_env import THREAD_VARIABLES" in text, script


def test_every_project_file_a_source_names_exists():
    """template_match.h and frvt_runtime/template.py named the template format's source in a face/
    folder of frvt_submission long after it had moved: a reader sent to a file that is not there."""
    import re

    patterns = ("cpp_api/**/*.h", "cpp_api/**/*.cpp", "cpp_api/**/CMakeLists.txt", "frvt_submission/**/*.py",
                "frvt_runtime/**/*.py", "tests/*.py", "scripts/*", "Makefile", "README.md", "validation/validate.sh")
    missing = [f"{f.relative_to(paths.ROOT)}: {name}" for pattern in patterns for f in sorted(paths.ROOT.glob(pattern))
               for name in re.findall(r"\b((?:frvt_submission|frvt_runtime|cpp_api)/[\w/.-]+\.(?:py|h|cpp|txt))",
                                      f.read_text(errors="replace"))
               if not (paths.ROOT / name).exists()]
    assert not missing, "these name files that do not exist:\n" + "\n".join(missing)
