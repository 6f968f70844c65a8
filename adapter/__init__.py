"""Dry-needling claim adapter: FHIR R4 sessions in, coded Claims out."""

__version__ = "0.1.0"
