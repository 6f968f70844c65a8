"""Only for the opt-in compiled wheel; everything else is in pyproject.toml.

    DN_ADAPTER_MYPYC=1 pip wheel --no-build-isolation --no-deps -w dist .

compiles the coding core with mypyc (as black and mypy ship theirs; needs mypy and a C
compiler in the building environment). Without the switch the wheel is pure Python.
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
