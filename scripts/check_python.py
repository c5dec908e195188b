"""make setup's first step: can the library embed this interpreter (Python 3.11, shared libpython)?

Standard library only: it runs with $(PYTHON), before the virtual environment exists. Without
it, a static Python was found only by `build`, after fetch and minutes of compiling. Written for
Python 3.6 and later (no future import, no list[str] at run time), so that an older Python gets
this script's verdict rather than a SyntaxError.
"""

import sys
import sysconfig
from pathlib import Path

WANTED = (3, 11)  # lib/ carries libpython3.11.so.1.0 and a 3.11 standard library
HOW = ("Get one built with a shared libpython, e.g. with pyenv:\n"
       "    env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.11\n"
       "or Debian's python3.11, which is built shared:\n"
       "    apt install python3.11 python3.11-venv python3.11-dev\n"
       "then: make setup PYTHON=/path/to/python3.11")


def problems(version: tuple, config: dict, include: str) -> "list[str]":
    """Why an interpreter of this version, sysconfig variables and include folder cannot be
    embedded (empty: it can)."""
    found = []
    if tuple(version[:2]) != WANTED:
        found.append(f"it is Python {version[0]}.{version[1]}; the library embeds Python {WANTED[0]}.{WANTED[1]}")
    if not config.get("Py_ENABLE_SHARED"):
        found.append("it was built without --enable-shared, so there is no libpython to embed")
    else:
        for key in ("LDLIBRARY", "INSTSONAME"):  # the one the build links, the one lib/ carries
            lib = Path(config.get("LIBDIR") or "") / (config.get(key) or "")
            if not lib.is_file():
                found.append(f"its shared libpython {lib} is missing (Debian: apt install libpython3.11-dev)")
                break
    header = Path(include) / "Python.h"
    if not header.is_file():  # the CFFI bridge compiles against it
        found.append(f"its header {header} is missing (Debian: apt install python3.11-dev)")
    return found


def main() -> int:
    config = {k: sysconfig.get_config_var(k) for k in ("Py_ENABLE_SHARED", "LIBDIR", "LDLIBRARY", "INSTSONAME")}
    found = problems(sys.version_info, config, sysconfig.get_paths()["include"])
    if not found:
        print(f"python: {sys.executable} (Python {sys.version.split()[0]}, shared libpython): ok")
        return 0
    print(f"error: {sys.executable} cannot be embedded by the library: " + "; ".join(found) + ".\n" + HOW,
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
