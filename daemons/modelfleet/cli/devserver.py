"""``modelfleet devserver run``: the TF-Serving-compatible development server.

Flags follow ``tensorflow_model_server`` (``--port``, ``--model_config_file``,
``--rest_api_port``, ``--grpc_channel_arguments``, ``--monitoring_config_file``) so scripts,
systemd units and molecule hosts can swap one for the other. Like the real binary it exits at
once on SIGTERM; ``--graceful-stop`` is a dev-server extra.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from .common import die

__all__ = ["register"]


def register(cli: click.Group) -> None:
    @cli.group("devserver")
    def devserver() -> None:
        """TF-Serving-compatible dev server (development and tests only, never production)."""

    @devserver.command("run")
    @click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=8500,
        show_default=True,
        help="gRPC port (TF Serving: --port).",
    )
    @click.option(
        "--model_config_file",
        "--model-config-file",
        "model_config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=lambda: os.environ.get("TENSORFLOW_SERVING_CONFIG_FILE") or None,
        help="models.config to load at start [$TENSORFLOW_SERVING_CONFIG_FILE].",
    )
    @click.option(
        "--rest_api_port",
        "--rest-api-port",
        "rest_api_port",
        type=click.IntRange(0, 65535),
        default=0,
        show_default=True,
        help="REST port; 0 = no REST API (as TF Serving).",
    )
    @click.option("--host", default="0.0.0.0", show_default=True, help="Address to bind.")
    @click.option(
        "--mode",
        type=click.Choice(["auto", "tensorflow", "no-tensorflow"]),
        default="auto",
        show_default=True,
        help="auto: real TensorFlow when importable, else load-only mode.",
    )
    @click.option(
        "--load-delay",
        type=click.FloatRange(0, 600),
        default=0.0,
        show_default=True,
        help="Extra seconds per version load (tests, demos).",
    )
    @click.option(
        "--grpc_channel_arguments",
        "--grpc-channel-arguments",
        "grpc_channel_arguments",
        default="",
        help="KEY=VALUE,... for the gRPC server (TF Serving's flag), e.g. "
        "grpc.max_connection_age_ms=30000,grpc.max_connection_age_grace_ms=5000.",
    )
    @click.option(
        "--monitoring_config_file",
        "--monitoring-config-file",
        "monitoring_config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="MonitoringConfig text file (TF Serving's flag): Prometheus page on the REST port.",
    )
    @click.option(
        "--graceful-stop",
        type=click.FloatRange(0, 600),
        default=0.0,
        show_default=True,
        help="Seconds in-flight calls get on SIGTERM; 0 = exit at once, like "
        "tensorflow_model_server (dev-server extra, for tests).",
    )
    @click.option(
        "--max_num_load_retries",
        "--max-num-load-retries",
        "max_num_load_retries",
        type=click.IntRange(0, 1000),
        default=5,
        show_default=True,
        help="Retries of a failing load before it ends in error (TF Serving's flag).",
    )
    @click.option(
        "--load_retry_interval_micros",
        "--load-retry-interval-micros",
        "load_retry_interval_micros",
        type=click.IntRange(-1, 3600 * 10**6),
        default=60 * 10**6,
        show_default=True,
        help="Microseconds between load retries; negative: no wait (TF Serving's flag).",
    )
    @click.option(
        "--num_load_threads",
        "--num-load-threads",
        "num_load_threads",
        type=click.IntRange(0, 64),
        default=0,
        show_default=True,
        help="Load thread pool; 0 = loads run one at a time in the manager loop (TF Serving).",
    )
    @click.option(
        "--file_system_poll_wait_seconds",
        "--file-system-poll-wait-seconds",
        "file_system_poll_wait_seconds",
        type=click.FloatRange(0.01, 3600),
        default=1.0,
        show_default=True,
        help="How often base paths are polled for versions (TF Serving's flag; "
        "fractions allowed here for tests).",
    )
    @click.option("--log-level", default=lambda: os.environ.get("MODELFLEET_LOG_LEVEL", "INFO"))
    def run(
        port: int,
        model_config_file: Path | None,
        rest_api_port: int,
        host: str,
        mode: str,
        load_delay: float,
        grpc_channel_arguments: str,
        monitoring_config_file: Path | None,
        graceful_stop: float,
        max_num_load_retries: int,
        load_retry_interval_micros: int,
        num_load_threads: int,
        file_system_poll_wait_seconds: float,
        log_level: str,
    ) -> None:
        """Serve TF Serving's gRPC API (ModelService, PredictionService) on --port."""
        from ..devserver.manager import ManagerOptions
        from ..devserver.metrics import parse_monitoring_config
        from ..devserver.server import parse_channel_arguments
        from ..devserver.server import run as run_server
        from ..logsetup import configure_logging
        from ..tfserving.config import ConfigError

        configure_logging("devserver", log_level)
        if model_config_file is not None and not model_config_file.is_file():
            die(f"--model_config_file {model_config_file} does not exist")
        try:
            parse_channel_arguments(grpc_channel_arguments)
        except ValueError as exc:
            die(str(exc))
        if monitoring_config_file is not None:
            try:
                parse_monitoring_config(monitoring_config_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                die(f"--monitoring_config_file {monitoring_config_file}: {exc}")
        try:
            run_server(
                port=port,
                model_config_file=model_config_file,
                rest_api_port=rest_api_port,
                host=host,
                mode=mode,
                load_delay=load_delay,
                grpc_channel_arguments=grpc_channel_arguments,
                monitoring_config_file=monitoring_config_file,
                graceful_stop=graceful_stop,
                options=ManagerOptions(
                    max_num_load_retries=max_num_load_retries,
                    load_retry_interval=max(0, load_retry_interval_micros) / 1e6,
                    num_load_threads=num_load_threads,
                    file_system_poll_wait=file_system_poll_wait_seconds,
                ),
            )
        except ConfigError as exc:
            die(f"{model_config_file}: {exc}")
        except OSError as exc:
            die(str(exc), code=1)
