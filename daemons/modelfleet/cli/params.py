"""Click parameter types that validate with :mod:`modelfleet.names` as arguments are parsed.

Every model name, version, label, zone and hostname an operator types is checked here —
before any request leaves the CLI or any path is touched — with the same rules the master,
the store and the node daemons apply. A refusal is a ``click.BadParameter``, which the
``modelfleet`` group prints as one line and exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..names import (
    InvalidName,
    parse_version,
    validate_hostname,
    validate_label,
    validate_model_name,
    validate_zone,
)

__all__ = ["HOST", "LABEL", "MODEL", "VERSION", "ZONE"]


class _Checked(click.ParamType):
    def __init__(self, name: str, check: Callable[[Any], Any]) -> None:
        self.name = name
        self._check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self._check(value)
        except InvalidName as exc:
            self.fail(str(exc), param, ctx)


MODEL = _Checked("model", validate_model_name)
VERSION = _Checked("version", parse_version)  # "01", "+1", "1e3", "1.0", "0": refused
LABEL = _Checked("label", validate_label)
ZONE = _Checked("zone", validate_zone)
HOST = _Checked("host", validate_hostname)
