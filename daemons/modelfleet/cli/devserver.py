"""``modelfleet devserver run``: the TF-Serving-compatible development server.

Flags follow ``tensorflow_model_server`` (``--port``, ``--model_config_file``,
``--rest_api_port``) so scripts, systemd units and molecule hosts can swap one for the other.
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
    @click.option("--log-level", default=lambda: os.environ.get("MODELFLEET_LOG_LEVEL", "INFO"))
    def run(
        port: int,
        model_config_file: Path | None,
        rest_api_port: int,
        host: str,
        mode: str,
        load_delay: float,
        log_level: str,
    ) -> None:
        """Serve TF Serving's gRPC API (ModelService, PredictionService) on --port."""
        from ..devserver.server import run as run_server
        from ..logsetup import configure_logging
        from ..tfserving.config import ConfigError

        configure_logging("devserver", log_level)
        if model_config_file is not None and not model_config_file.is_file():
            die(f"--model_config_file {model_config_file} does not exist")
        try:
            run_server(
                port=port,
                model_config_file=model_config_file,
                rest_api_port=rest_api_port,
                host=host,
                mode=mode,
                load_delay=load_delay,
            )
        except ConfigError as exc:
            die(f"{model_config_file}: {exc}")
        except OSError as exc:
            die(str(exc), code=1)
