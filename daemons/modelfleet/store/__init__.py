"""modelfleet.store."""
