"""Build and maintenance scripts (importable for the tests and the benchmark)."""
