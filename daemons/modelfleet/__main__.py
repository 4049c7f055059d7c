"""``python -m modelfleet`` = the ``modelfleet`` command (the local fleet uses it)."""

from .cli import main

main()
