"""``python -m polyattr.cli``: the ``polyattr`` command."""

from polyattr.cli import run

run()
