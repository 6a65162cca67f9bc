"""``python -m polyattr.cli``: the ``polyattr`` command."""

import sys

from polyattr.cli import main

sys.exit(main())
