"""make setup's first step, scripts/check_python.py: Python 3.11 with a shared libpython, or a way to get one."""

import importlib.util
import subprocess
import sys
import sysconfig

from frvt_submission import paths

SCRIPT = paths.ROOT / "scripts" / "check_python.py"


def _script():
    spec = importlib.util.spec_from_file_location("check_python", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config():
    return {k: sysconfig.get_config_var(k) for k in ("Py_ENABLE_SHARED", "LIBDIR", "LDLIBRARY", "INSTSONAME")}


def test_this_interpreter_passes():
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "shared libpython): ok" in r.stdout and r.stderr == ""


def test_a_static_python_fails_before_the_venv_saying_how_to_get_one():
    """A Python without --enable-shared was found only by `build`, after fetch and compile."""
    patched = ("import runpy, sysconfig; real = sysconfig.get_config_var; "
               "sysconfig.get_config_var = lambda k: 0 if k == 'Py_ENABLE_SHARED' else real(k); "
               f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", patched], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "built without --enable-shared" in r.stderr
    assert "env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.11" in r.stderr
    assert "Debian's python3.11" in r.stderr and "make setup PYTHON=" in r.stderr


def test_each_defect_is_named(tmp_path):
    check = _script()
    include = sysconfig.get_paths()["include"]
    assert check.problems((3, 11, 7), _config(), include) == []
    assert check.problems((3, 12, 1), _config(), include) == [
        "it is Python 3.12; the library embeds Python 3.11"]
    no_lib = {**_config(), "LIBDIR": str(tmp_path)}
    assert check.problems((3, 11, 7), no_lib, include) == [
        f"its shared libpython {tmp_path / no_lib['LDLIBRARY']} is missing (Debian: apt install libpython3.11-dev)"]
    assert check.problems((3, 11, 7), _config(), str(tmp_path)) == [
        f"its header {tmp_path / 'Python.h'} is missing (Debian: apt install python3.11-dev)"]


def test_an_older_python_can_run_the_check_and_hear_its_verdict():
    """Under Python 3.6 the check itself was a SyntaxError ('future feature annotations is not
    defined'), not 'it is Python 3.6; the library embeds Python 3.11'. No 3.6 is installed here:
    the source is held to 3.6's grammar, without the future import that 3.6 lacks."""
    import ast

    text = SCRIPT.read_text()
    ast.parse(text, feature_version=(3, 6))
    tree = ast.parse(text)
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    mod = _script()
    assert mod.problems((3, 6, 9), _config(), sysconfig.get_paths()["include"])[0].startswith("it is Python 3.6;")
