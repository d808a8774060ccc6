"""Builds the live push's C hot loop (portfolio/live_native.c) next to its source:

    python -m portfolio.native        (make does this after installing the requirements)

It needs a C compiler and Python's headers; without them it says so and the live push runs the
pure-Python version of the same loop (same numbers, slower: README, performance).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

SOURCE = Path(__file__).with_name("live_native.c")
TARGET = Path(__file__).with_name("_live_native" + str(sysconfig.get_config_var("EXT_SUFFIX")))


def command() -> list[str] | None:
    compiler = shlex.split(str(sysconfig.get_config_var("CC") or "cc"))
    if not shutil.which(compiler[0]):
        return None
    include = sysconfig.get_paths()["include"]
    return [*compiler, "-shared", "-fPIC", "-O2", "-Wall", f"-I{include}", str(SOURCE), "-o", str(TARGET)]


def build() -> bool:
    if TARGET.exists() and TARGET.stat().st_mtime >= SOURCE.stat().st_mtime:
        return True
    cc = command()
    if cc is None or not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        print("portfolio.native: no C compiler or Python headers; the live push uses its Python loop", file=sys.stderr)
        return False
    done = subprocess.run(cc, capture_output=True, text=True, check=False)  # noqa: S603 (our compiler, our file)
    if done.returncode:
        print(f"portfolio.native: build failed, the live push uses its Python loop:\n{done.stderr}", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    build()
