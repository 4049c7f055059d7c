"""Load generator: many concurrent Predict calls at a target rate, like the RUNBOOK's caller."""

from .engine import LoadResult, run_load
from .targets import resolve_targets

__all__ = ["LoadResult", "resolve_targets", "run_load"]
