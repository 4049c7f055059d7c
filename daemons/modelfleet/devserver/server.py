"""Run the dev server: gRPC (ModelService + PredictionService), optional REST, start-up config.

A development stand-in for ``tensorflow_model_server`` (which cannot be installed on these
machines), used by local runs, tests and the molecule hosts. Never the production path:
production runs the real binary, installed by the Ansible tfserving role.

Where drains and clients depend on it, it behaves like the real binary, inconvenient parts
included:

- the gRPC port opens only after the start-up config has loaded (a cold load keeps it shut);
- ``--grpc_channel_arguments`` (``grpc.max_connection_age_ms=30000,...``) go to the gRPC
  server as TF Serving passes them (integers as integers): ``max_connection_age`` sends
  clients a GOAWAY so they reconnect and re-resolve DNS;
- SIGTERM ends the process at once, in-flight calls and all (tensorflow_model_server installs
  no handler: tensorflow/serving#1853); ``graceful_stop`` > 0 is a dev-server extra for tests
  that want the opposite;
- ``--monitoring_config_file`` enables the Prometheus page on the REST port with TF Serving's
  request count (:mod:`.metrics`).
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
from .metrics import CountingInterceptor, ServingMetrics, parse_monitoring_config
from .rest import make_rest_server
from .service import add_services

__all__ = ["DevServer", "parse_channel_arguments"]

log = logging.getLogger(__name__)

ChannelArgument = tuple[str, int | str]


def parse_channel_arguments(text: str) -> list[ChannelArgument]:
    """``--grpc_channel_arguments``: ``key=value,key=value``; a value that is a 32-bit integer
    is passed as one (as TF Serving does), anything else as a string."""
    result: list[ChannelArgument] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--grpc_channel_arguments: {item!r} is not KEY=VALUE")
        value = value.strip()
        try:
            number = int(value)
        except ValueError:
            result.append((key.strip(), value))
            continue
        if not -(2**31) <= number < 2**31:
            result.append((key.strip(), value))
        else:
            result.append((key.strip(), number))
    return result


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
        grpc_channel_arguments: str = "",
        monitoring_config_file: Path | None = None,
        graceful_stop: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.rest_api_port = rest_api_port
        self.model_config_file = model_config_file
        self.graceful_stop = graceful_stop
        self.loader = loader or make_loader()
        self.manager = ModelManager(self.loader, options)
        self.metrics = ServingMetrics()
        self.metrics_path: str | None = None
        if monitoring_config_file is not None:
            text = Path(monitoring_config_file).read_text(encoding="utf-8")
            enabled, path = parse_monitoring_config(text)
            self.metrics_path = path if enabled else None
        self.channel_arguments = parse_channel_arguments(grpc_channel_arguments)
        self._grpc = grpc.server(
            ThreadPoolExecutor(max_workers=grpc_threads, thread_name_prefix="grpc"),
            interceptors=[CountingInterceptor(self.metrics)],
            options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
                *self.channel_arguments,
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
            self._rest = make_rest_server(
                self.host,
                self.rest_api_port,
                self.manager,
                metrics=self.metrics,
                metrics_path=self.metrics_path,
            )
            threading.Thread(target=self._rest.serve_forever, name="rest", daemon=True).start()
        log.info(
            "dev server listening",
            extra=kv(
                grpc=f"{self.host}:{self.port}",
                rest=self.rest_api_port or None,
                mode=self.loader.mode,
                config=str(self.model_config_file or ""),
                channel_arguments=",".join(f"{k}={v}" for k, v in self.channel_arguments) or None,
                metrics=self.metrics_path,
            ),
        )

    def stop(self, grace: float = 2.0) -> None:
        if self._rest is not None:
            self._rest.shutdown()
        self._grpc.stop(grace).wait()
        self.manager.shutdown()
        self._stopped.set()

    def serve_forever(self) -> None:
        """Start, then block until SIGTERM/SIGINT.

        By default the signal's own action ends the process at once, like
        tensorflow_model_server: in-flight calls fail, which is why drains wait for the
        request rate to reach zero before they stop a server. With ``graceful_stop`` > 0 the
        server stops taking calls and gives in-flight ones that many seconds.
        """
        if self.graceful_stop > 0:

            def _handle(_sig: int, _frame: FrameType | None) -> None:
                threading.Thread(target=self.stop, args=(self.graceful_stop,), daemon=True).start()

            signal.signal(signal.SIGTERM, _handle)
            signal.signal(signal.SIGINT, _handle)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
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
    grpc_channel_arguments: str = "",
    monitoring_config_file: Path | None = None,
    graceful_stop: float = 0.0,
    options: ManagerOptions | None = None,
) -> None:
    """Entry point of ``modelfleet devserver run``."""
    server = DevServer(
        port=port,
        model_config_file=model_config_file,
        rest_api_port=rest_api_port,
        host=host,
        loader=make_loader(mode, load_delay),
        grpc_channel_arguments=grpc_channel_arguments,
        monitoring_config_file=monitoring_config_file,
        graceful_stop=graceful_stop,
        options=options,
    )
    server.serve_forever()
