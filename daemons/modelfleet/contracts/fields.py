"""Field types shared by the contracts: a JSON type plus the validator of :mod:`modelfleet.names`
and the JSON Schema words that state the same rule (so the OpenAPI document and the checks
can never disagree)."""

from __future__ import annotations

from typing import Annotated

from ..names import (
    HOSTNAME_PATTERN,
    LABEL_PATTERN,
    MAX_VERSION,
    MODEL_NAME_PATTERN,
    validate_hostname,
    validate_label,
    validate_model_name,
    validate_zone,
    version_from_json,
)
from .schema import rule

__all__ = ["Hostname", "Label", "ModelName", "Version", "Zone"]

ModelName = Annotated[str, rule(validate_model_name, pattern=MODEL_NAME_PATTERN)]
Zone = Annotated[str, rule(validate_zone, pattern=MODEL_NAME_PATTERN)]
Label = Annotated[str, rule(validate_label, pattern=LABEL_PATTERN)]
Hostname = Annotated[str, rule(validate_hostname, pattern=HOSTNAME_PATTERN, maxLength=253)]
Version = Annotated[int, rule(version_from_json, minimum=1, maximum=MAX_VERSION)]
