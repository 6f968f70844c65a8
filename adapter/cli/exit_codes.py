"""The exit statuses of every command (docs/configuration.md, "Exit codes")."""

EXIT_OK = 0  # the run completed; holds and per-resource problems are in the output
EXIT_FAILED = 1  # some cases could not be written, or an unexpected server answer
EXIT_USAGE = 2  # bad usage, configuration, mappings, source or sink
EXIT_UNREACHABLE = 3  # the server could not be reached after every retry
EXIT_INTERRUPTED = 130
