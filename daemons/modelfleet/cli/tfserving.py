"""``modelfleet tfserving probe|wait-idle|wait-ready``: TF Serving checks for units and playbooks.

- ``probe`` — the tfserving healthcheck: GetModelStatus over gRPC with a deadline (exit 0
  alive, 1 not); systemd runs it from ``tfserving-healthcheck.timer`` while the unit is active.
- ``wait-idle`` — the drain gate: wait until TF Serving's request count on its metrics page
  stops moving for ``--quiet`` seconds (exit 0), or give up at ``--timeout`` (exit 1, the
  server is left running).
- ``wait-ready`` — a node's health gates (TF Serving answers, the helpers' ``/readyz``, every
  desired model AVAILABLE) under one deadline: exit 0 passed, 1 not (the rollout's and the
  undrain's gates, run as one asynchronous job per host; :mod:`modelfleet.node.gates`).
"""

from __future__ import annotations

import json

import click

from .common import die

__all__ = ["register"]


def register(cli: click.Group) -> None:
    @cli.group("tfserving")
    def tfserving() -> None:
        """Checks of a TF Serving (real or dev server) for healthchecks and drains."""

    @tfserving.command("probe")
    @click.option("--target", default="127.0.0.1:8500", show_default=True, help="gRPC HOST:PORT.")
    @click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 120))
    def probe_cmd(target: str, timeout: float) -> None:
        """Exit 0 when TF Serving answers GetModelStatus within TIMEOUT, else 1."""
        from ..tfserving.probe import probe

        try:
            result = probe(target, timeout=timeout)
        except ValueError as exc:
            die(str(exc))
        click.echo(f"tfserving: {'alive' if result.alive else 'NOT ANSWERING'} ({result.detail})")
        raise SystemExit(0 if result.alive else 1)

    @tfserving.command("wait-idle")
    @click.option(
        "--url",
        default="http://127.0.0.1:8501/monitoring/prometheus/metrics",
        show_default=True,
        help="TF Serving's Prometheus page (--monitoring_config_file on the REST port).",
    )
    @click.option(
        "--quiet",
        default=5.0,
        show_default=True,
        type=click.FloatRange(0.1, 3600),
        help="Seconds the request count must stay still.",
    )
    @click.option(
        "--timeout",
        default=120.0,
        show_default=True,
        type=click.FloatRange(0.1, 86400),
        help="Give up (exit 1) after this many seconds.",
    )
    @click.option("--json", "as_json", is_flag=True)
    def wait_idle_cmd(url: str, quiet: float, timeout: float, as_json: bool) -> None:
        """Wait until TF Serving's request rate is zero; exit 0 idle, 1 not idle by TIMEOUT."""
        from ..tfserving.metrics import request_count, scrape, wait_idle

        if not url.startswith(("http://", "https://")):
            die(f"--url must be an http(s) URL: {url!r}")
        result = wait_idle(
            lambda: request_count(scrape(url, timeout=min(5.0, timeout))),
            quiet=quiet,
            timeout=timeout,
        )
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "idle": result.idle,
                        "waited_s": round(result.waited_s, 2),
                        "count": result.count,
                        "moved": result.moved,
                        "last_rate": round(result.last_rate, 2),
                        "error": result.error,
                    }
                )
            )
        else:
            click.echo(f"tfserving: {result.describe()}")
        raise SystemExit(0 if result.idle else 1)

    @tfserving.command("wait-ready")
    @click.option("--target", default="127.0.0.1:8500", show_default=True, help="gRPC HOST:PORT.")
    @click.option(
        "--ready",
        "ready",
        multiple=True,
        metavar="NAME=URL",
        help="A helper's /readyz that must answer 2xx (repeat).",
    )
    @click.option(
        "--models",
        "models_url",
        default="",
        help="The config manager's /api/v1/models: every desired version must be AVAILABLE.",
    )
    @click.option(
        "--token-file",
        type=click.Path(dir_okay=False),
        default="",
        help="0600 file with the node's cluster token (for --models).",
    )
    @click.option(
        "--timeout",
        default=120.0,
        show_default=True,
        type=click.FloatRange(0.1, 86400),
        help="Give up (exit 1) after this many seconds, all gates together.",
    )
    @click.option("--json", "as_json", is_flag=True)
    def wait_ready_cmd(
        target: str,
        ready: tuple[str, ...],
        models_url: str,
        token_file: str,
        timeout: float,
        as_json: bool,
    ) -> None:
        """Wait for this node's health gates; exit 0 passed, 1 not passed by TIMEOUT."""
        from ..node.gates import Gate, http_ready, models_available, wait_ready
        from ..tfserving.probe import probe
        from ..tokens import read_token_file

        helpers: list[tuple[str, str]] = []
        for item in ready:
            name, sep, url = item.partition("=")
            if not sep or not name or not url.startswith(("http://", "https://")):
                die(f"--ready must be NAME=http(s)://HOST:PORT/readyz, not {item!r}")
            helpers.append((name, url))
        if models_url and not models_url.startswith(("http://", "https://")):
            die(f"--models must be an http(s) URL: {models_url!r}")
        if models_url and not token_file:
            die("--models needs --token-file (the config manager's API wants the node's token)")

        def tfserving_gate() -> str | None:
            result = probe(target, timeout=min(2.0, timeout))
            return None if result.alive else f"TF Serving does not answer ({result.detail})"

        gates: list[tuple[str, Gate]] = [("tfserving", tfserving_gate)]

        def all_ready() -> str | None:
            for name, url in helpers:
                why = http_ready(name, url)()
                if why is not None:
                    return why
            return None

        if helpers:
            gates.append(("ready", all_ready))
        if models_url:
            gates.append(
                ("models", models_available(models_url, lambda: read_token_file(token_file)))
            )
        result = wait_ready(gates, timeout=timeout)
        if as_json:
            click.echo(json.dumps(result.to_json()))
        else:
            click.echo(f"node: {result.describe()}")
        raise SystemExit(0 if result.ok else 1)
