"""modelfleet.master."""
