"""`python -m frvt_submission`: the CLI."""

import sys

from .cli import main

sys.exit(main())
