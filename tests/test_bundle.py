"""lib/'s bundled runtime: every import the runtime names resolves inside lib/, nothing else ships, byte-code only."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import frvt_runtime
from frvt_submission import paths
from frvt_submission.bridge.bundle import PY_VERSION

HOME = paths.DEFAULT_OUTPUTS.lib / "python"
STDLIB = HOME / "lib" / f"python{PY_VERSION}"
SITE = STDLIB / "site-packages"

# In lib/'s interpreter alone (PYTHONHOME = lib/python, no site, no venv): import every bundled
# runtime module, resolve every module name its source imports (also inside functions), and
# report what cannot be found, or is found or loaded from outside lib/.
WALK = r"""
import ast, importlib, importlib.util, json, sys
lib, site, sources = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.append(site)
report = {"missing": [], "outside": [], "modules": 0}
files = sorted(__import__("pathlib").Path(sources).glob("*.py"))  # lib/ ships their byte-code only
for f in files:
    mod = "frvt_runtime" + ("" if f.stem == "__init__" else "." + f.stem)
    importlib.import_module(mod)
    report["modules"] += 1
    for node in ast.walk(ast.parse(f.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
        for name in names:
            spec = importlib.util.find_spec(name)
            if spec is None:
                report["missing"].append(f"{f.name}: {name}")
            elif spec.origin not in (None, "built-in", "frozen") and not spec.origin.startswith(lib):
                report["outside"].append(f"{f.name}: {name} from {spec.origin}")
for name, m in list(sys.modules.items()):
    origin = getattr(m, "__file__", None)
    if origin and not origin.startswith(lib):
        report["outside"].append(f"loaded {name} from {origin}")
print(json.dumps(report))
"""


def test_every_import_of_the_runtime_resolves_inside_lib(built):
    env = {"PYTHONHOME": str(HOME), "PYTHONNOUSERSITE": "1", "LD_LIBRARY_PATH": str(paths.DEFAULT_OUTPUTS.lib),
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-S", "-c", WALK, str(paths.DEFAULT_OUTPUTS.lib.resolve()), str(SITE.resolve()),
                        str(Path(frvt_runtime.__file__).parent)],
                       env=env, capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["modules"] >= 10
    assert report["missing"] == [] and report["outside"] == [], report


def test_only_the_runtime_ships(built):
    stdlib_names = {p.name.split(".")[0] for p in STDLIB.iterdir()} | \
        {p.name.split(".")[0] for p in (STDLIB / "lib-dynload").iterdir()}
    never = {"tkinter", "_tkinter", "sqlite3", "_sqlite3", "curses", "_curses", "_testcapi", "unittest",
             "idlelib", "ensurepip", "lib2to3", "pydoc_data", "test", "venv"}
    assert not stdlib_names & never, stdlib_names & never
    host_stdlib = Path(sys.base_prefix) / "lib" / f"python{PY_VERSION}"
    assert len(list(STDLIB.rglob("*.pyc"))) < 0.3 * len(list(host_stdlib.rglob("*.py")))
    site = {p.name for p in SITE.iterdir()}
    assert "frvt_runtime" in site
    assert not site & {"frvt_submission", "tvm", "onnx", "onnxruntime", "cffi", "tabulate"}, site
    assert not (SITE / "numpy" / "random").exists() and not (SITE / "numpy" / "f2py").exists()


def test_byte_code_ships_in_place_of_sources(built):
    """Every module is a .pyc where its .py was (CPython imports it without a source), none in a
    __pycache__ and no .py left; each names its file as lib/ has it, so an error's place is true."""
    import marshal

    pycs = sorted(HOME.rglob("*.pyc"))
    assert len(pycs) > 200
    assert list(HOME.rglob("*.py")) == [] and list(HOME.rglob("__pycache__")) == []
    wrong = []
    for pyc in pycs:
        head = pyc.read_bytes()
        flags = int.from_bytes(head[4:8], "little")
        code = marshal.loads(head[16:])
        if head[:4] != importlib.util.MAGIC_NUMBER or flags != 0b01 or \
                code.co_filename != str(pyc.relative_to(HOME).with_suffix(".py")):
            wrong.append(f"{pyc.relative_to(HOME)}: flags {flags}, file {code.co_filename}")
    assert wrong == [], wrong[:10]


def test_libpython_and_the_models_are_stripped(built):
    models = sorted(paths.DEFAULT_OUTPUTS.config.glob("*/*.so"))  # config/<code path>/*.so
    assert len(models) >= 2
    for f in [next(paths.DEFAULT_OUTPUTS.lib.glob("libpython*.so*")), *models]:
        sections = subprocess.run(["readelf", "-S", "-W", str(f)], capture_output=True, text=True,
                                  check=True).stdout
        assert ".symtab" not in sections and ".debug_info" not in sections and ".dynsym" in sections, f


def test_absolute_run_paths_are_removed_and_origin_ones_kept(tmp_path):
    """A library linked with a build machine's folder in its RUNPATH (as pyenv's libpython and
    lib-dynload modules are) keeps only its $ORIGIN entries; one with none left has no RUNPATH."""
    import subprocess

    from frvt_submission.bridge.runpath import absolute_runpaths, drop_absolute_runpaths, runpath

    src = tmp_path / "f.c"
    src.write_text("int f(void) { return 1; }\n")
    lib = tmp_path / "lib"
    lib.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", str(src), "-o", str(lib / "mixed.so"),
                    "-Wl,-rpath,/root/.pyenv/versions/3.11.7/lib:$ORIGIN/sub"], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", str(src), "-o", str(lib / "absolute.so"),
                    "-Wl,-rpath,/opt/build/lib"], check=True)
    assert absolute_runpaths(lib) == {"absolute.so": ["/opt/build/lib"],
                                      "mixed.so": ["/root/.pyenv/versions/3.11.7/lib"]}
    assert drop_absolute_runpaths(lib, lambda m: None) == 2
    assert absolute_runpaths(lib) == {}
    assert runpath(lib / "mixed.so") == ["$ORIGIN/sub"] and runpath(lib / "absolute.so") == []
    out = subprocess.run(["readelf", "-d", str(lib / "absolute.so")], capture_output=True, text=True).stdout
    assert "RUNPATH" not in out and "RPATH" not in out


def test_the_built_library_ships_no_absolute_run_path(built):
    """readelf on lib/ and config/: no RUNPATH names a folder of the build machine (libpython and
    the lib-dynload modules carried pyenv's folder under /root)."""
    from frvt_submission import paths
    from frvt_submission.bridge.runpath import absolute_runpaths, elf_files

    assert len(elf_files(built["lib"].parent)) > 20
    assert absolute_runpaths(built["lib"].parent) == {} and absolute_runpaths(paths.DEFAULT_OUTPUTS.config) == {}
