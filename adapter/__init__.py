"""Dry-needling claim adapter: FHIR R4 sessions in, coded Claims out."""

from importlib.util import find_spec

__version__ = "0.1.0"


def build_kind() -> str:
    """'compiled' when the coding core is the mypyc build (scripts/build_compiled.py), else 'interpreted'."""
    spec = find_spec("adapter.assemble")
    return "interpreted" if spec is None or str(spec.origin).endswith(".py") else "compiled"
