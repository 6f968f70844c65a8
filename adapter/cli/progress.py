"""Progress on a terminal only (tqdm): sessions coded and the rate, on stderr.

Quiet when stderr is not a terminal (logs, CI, a service) or `DN_ADAPTER_PROGRESS=0`: the
JSON-lines log and the summary are what those read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from ..pipeline import Progress


@contextmanager
def terminal_progress(what: str) -> Iterator[Progress | None]:
    """A progress callback drawing a tqdm counter, or None off a terminal."""
    if not sys.stderr.isatty() or os.environ.get("DN_ADAPTER_PROGRESS") == "0":
        yield None
        return
    from tqdm import tqdm

    with tqdm(desc=what, unit=" sessions", file=sys.stderr, leave=False, dynamic_ncols=True) as bar:

        def advance(sessions: int) -> None:
            bar.update(sessions - bar.n)

        yield advance
