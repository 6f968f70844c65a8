"""The sync worker: incremental, exactly-once, amendment-aware, against a FHIR server."""
