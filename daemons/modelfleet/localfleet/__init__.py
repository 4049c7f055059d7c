"""modelfleet.localfleet."""
