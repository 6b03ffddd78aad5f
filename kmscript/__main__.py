"""``python -m kmscript``: the same as the ``kmscript`` command."""

import sys

from .cli import main

sys.exit(main())
