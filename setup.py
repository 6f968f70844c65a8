"""Only for the compiled wheel; everything else is in pyproject.toml.

A release ships two wheels (scripts/build_wheels.py, `make dist`), as black and mypy ship
theirs: this file with DN_ADAPTER_MYPYC=1 compiles the coding core with mypyc into the
platform wheel (needs mypy and a C compiler where it is built); without the switch the wheel
is pure Python, the fallback pip takes where no compiled wheel fits.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup

ext_modules = []
if os.environ.get("DN_ADAPTER_MYPYC") == "1":
    from mypyc.build import mypycify

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the list of modules lives in scripts/
    from scripts.build_compiled import COMPILED_MODULES

    ext_modules = mypycify(list(COMPILED_MODULES), opt_level="3")

setup(ext_modules=ext_modules)
