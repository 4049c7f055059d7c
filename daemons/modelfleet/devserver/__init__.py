"""modelfleet.devserver."""
