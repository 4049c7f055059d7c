"""modelfleet.configmanager."""
