"""Sinks: where the Claims, Tasks, Provenances and OperationOutcomes go."""
