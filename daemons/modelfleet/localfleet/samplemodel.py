"""A small real SavedModel for demos and tests: ``y = slope * x + intercept``.

Built with TensorFlow (imported lazily: only the demo's controller process pays for it, never
a node daemon). Signature ``serving_default``: input ``x`` (float32, shape [None]), output
``y`` — the same shape of call the RUNBOOK's Elasticsearch caller makes to TF Serving.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["build_linear_model"]


def build_linear_model(path: Path, slope: float = 2.0, intercept: float = 1.0) -> Path:
    """Write a SavedModel computing ``slope * x + intercept`` to ``path`` and return it."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    class Linear(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.slope = tf.Variable(slope, dtype=tf.float32)
            self.intercept = tf.Variable(intercept, dtype=tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": self.slope * x + self.intercept}

    module = Linear()
    path.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path
