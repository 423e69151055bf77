"""``python -m tui.cli``: the ``modeltui`` console script."""

import sys

from tui.cli import main

sys.exit(main())
