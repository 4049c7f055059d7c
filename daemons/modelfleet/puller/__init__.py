"""modelfleet.puller."""
