"""``python -m modelfleet.node ...``: the thin gunicorn arbiter a node daemon's ``run``
command execs into (see :mod:`modelfleet.node.server`)."""

import sys

from .server import main

main(sys.argv[1:])
