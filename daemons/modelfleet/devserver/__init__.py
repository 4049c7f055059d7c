"""A TF-Serving-compatible development server (``modelfleet devserver run``).

Development and test stand-in for ``tensorflow_model_server``, faithful where the control
plane depends on it: reload semantics, the file-system source's polling, the availability-
preserving load/unload order, failed loads retried (LOADING) before they END in error,
version states, error codes, labels, GetModelMetadata, Predict via ``serving_default``.
Real TensorFlow when importable, else a no-TF mode that loads and reports versions but
answers Predict with FAILED_PRECONDITION. Not a production server.
"""

from .loader import FileLoader, LoadError, TensorFlowLoader, make_loader
from .manager import ManagerOptions, ModelManager, ServingError
from .server import DevServer

__all__ = [
    "DevServer",
    "FileLoader",
    "LoadError",
    "ManagerOptions",
    "ModelManager",
    "ServingError",
    "TensorFlowLoader",
    "make_loader",
]
