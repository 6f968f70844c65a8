"""`python -m adapter ...`: see adapter/cli/."""

import sys

from .cli import main

sys.exit(main())
