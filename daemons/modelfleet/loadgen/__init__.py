"""Load generator: many concurrent Predict calls at a target rate, like the RUNBOOK's caller."""

from .engine import LoadResult, run_load
from .targets import channel_spec, resolve_targets

__all__ = ["LoadResult", "channel_spec", "resolve_targets", "run_load"]
