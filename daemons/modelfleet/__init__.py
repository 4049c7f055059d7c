"""modelfleet: keep a fleet of TensorFlow Serving hosts in step with a model bucket."""

__version__ = "0.1.0"

__all__ = ["__version__"]
