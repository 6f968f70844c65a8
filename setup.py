"""Only for the opt-in compiled wheel; everything else is in pyproject.toml.

    DN_ADAPTER_MYPYC=1 pip wheel --no-build-isolation --no-deps -w dist .

compiles the coding core with mypyc (as black and mypy ship theirs; needs mypy and a C
compiler in the building environment). Without the switch the wheel is pure Python.
"""

from __future__ import annotations

import os

from setuptools import setup

ext_modules = []
if os.environ.get("DN_ADAPTER_MYPYC") == "1":
    from mypyc.build import mypycify

    from scripts.build_compiled import COMPILED_MODULES

    ext_modules = mypycify(list(COMPILED_MODULES), opt_level="3")

setup(ext_modules=ext_modules)
