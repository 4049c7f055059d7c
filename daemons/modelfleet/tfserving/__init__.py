"""modelfleet.tfserving."""
