"""Run the dev server: gRPC (ModelService + PredictionService), optional REST, start-up config.

A development stand-in for ``tensorflow_model_server`` (which cannot be installed on these
machines), used by local runs, tests and the molecule hosts. Never the production path:
production runs the real binary, installed by the Ansible tfserving role.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType

import grpc

from ..logsetup import kv
from ..tfserving.config import parse_config
from .loader import Loader, TensorFlowLoader, make_loader
from .manager import ManagerOptions, ModelManager, ServingError
from .rest import make_rest_server
from .service import add_services

__all__ = ["DevServer"]

log = logging.getLogger(__name__)


class DevServer:
    """One dev server instance; ``start()`` returns once the ports are bound."""

    def __init__(
        self,
        *,
        port: int,
        model_config_file: Path | None = None,
        rest_api_port: int = 0,
        host: str = "0.0.0.0",
        loader: Loader | None = None,
        options: ManagerOptions | None = None,
        grpc_threads: int = 16,
    ) -> None:
        self.host = host
        self.port = port
        self.rest_api_port = rest_api_port
        self.model_config_file = model_config_file
        self.loader = loader or make_loader()
        self.manager = ModelManager(self.loader, options)
        self._grpc = grpc.server(
            ThreadPoolExecutor(max_workers=grpc_threads, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
        )
        add_services(self._grpc, self.manager)
        self._rest: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()

    def load_startup_config(self) -> None:
        """Load ``model_config_file`` as TF Serving does at start; ConfigError if unparsable."""
        if self.model_config_file is None:
            return
        text = Path(self.model_config_file).read_text(encoding="utf-8")
        entries = parse_config(text)
        try:
            self.manager.reload(entries)
        except ServingError as exc:
            log.error(
                "start-up config did not fully load; serving what loaded",
                extra=kv(code=exc.code, error=exc.message),
            )

    def start(self) -> None:
        if isinstance(self.loader, TensorFlowLoader):
            self.loader.warm_up()
        self.manager.start()
        self.load_startup_config()
        bound = self._grpc.add_insecure_port(f"{self.host}:{self.port}")
        if bound == 0:
            raise OSError(f"cannot bind gRPC port {self.host}:{self.port}")
        self.port = bound
        self._grpc.start()
        if self.rest_api_port:
            self._rest = make_rest_server(self.host, self.rest_api_port, self.manager)
            threading.Thread(target=self._rest.serve_forever, name="rest", daemon=True).start()
        log.info(
            "dev server listening",
            extra=kv(
                grpc=f"{self.host}:{self.port}",
                rest=self.rest_api_port or None,
                mode=self.loader.mode,
                config=str(self.model_config_file or ""),
            ),
        )

    def stop(self, grace: float = 2.0) -> None:
        if self._rest is not None:
            self._rest.shutdown()
        self._grpc.stop(grace).wait()
        self.manager.shutdown()
        self._stopped.set()

    def serve_forever(self) -> None:
        """Start, then block until SIGTERM/SIGINT."""

        def _handle(_sig: int, _frame: FrameType | None) -> None:
            threading.Thread(target=self.stop, daemon=True).start()

        signal.signal(signal.SIGTERM, _handle)
        signal.signal(signal.SIGINT, _handle)
        self.start()
        self._stopped.wait()


def run(
    *,
    port: int,
    model_config_file: Path | None,
    rest_api_port: int = 0,
    host: str = "0.0.0.0",
    mode: str = "auto",
    load_delay: float = 0.0,
    options: ManagerOptions | None = None,
) -> None:
    """Entry point of ``modelfleet devserver run``."""
    server = DevServer(
        port=port,
        model_config_file=model_config_file,
        rest_api_port=rest_api_port,
        host=host,
        loader=make_loader(mode, load_delay),
        options=options,
    )
    server.serve_forever()
