"""The operator CLI's client of the master API, and the output helpers its commands share.

Master URL and token: ``--master-url`` / ``--token-file`` flags, else env
``MODELFLEET_MASTER_URL`` and ``MODELFLEET_TOKEN_FILE`` (or ``MODELFLEET_TOKEN``), else the
config file ``$MODELFLEET_CONFIG`` or ``~/.config/modelfleet/cli.json``
(``{"master_url": "...", "token_file": "..."}``).

Exit codes: 0 success / healthy / allowed; 1 the operation failed, the answer is negative
(drain refused, cluster unhealthy), a conflict (409: re-read and retry) or an unknown
thing (404); 2 bad usage, settings or input (400); 3 master (or, with ``--direct``, the
bucket) unreachable or answered 5xx; 4 token refused (401/403).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from .common import die

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "Master",
    "common_options",
    "connect",
    "emit",
    "segment",
    "setup",
    "table",
]

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_AUTH = 1, 2, 3, 4


def segment(value: str | int) -> str:
    """One URL path segment: every reserved character quoted (``/`` included), so a value
    can never reach another endpoint. Values are validated first; this is the second wall."""
    return quote(str(value), safe="")


class Master:
    """A small client of the master API; every failure exits with a meaningful code."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        import requests

        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        with contextlib.suppress(KeyError, OSError):
            self.session.headers["X-Modelfleet-User"] = getpass.getuser()
        self.timeout = timeout

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kw: Any) -> Any:
        """Call ``path`` (built with :func:`segment` for every variable part); redirects
        are never followed: the master does not send them, and following one would act on
        another resource than the one named."""
        import requests

        try:
            resp = self.session.request(
                method, self.url + path, timeout=self.timeout, allow_redirects=False, **kw
            )
        except requests.RequestException as exc:
            die(f"master {self.url} unreachable: {type(exc).__name__}", EXIT_UNREACHABLE)
        try:
            body = resp.json()
        except ValueError:
            body = {"error": resp.text[:200]}
        if resp.status_code in ok:
            return body
        message = body.get("error", "") if isinstance(body, dict) else str(body)
        if resp.status_code in (401, 403):
            die(f"master refused the token ({resp.status_code}): {message}", EXIT_AUTH)
        if resp.status_code == 400:
            die(message, EXIT_USAGE)
        if resp.status_code >= 500:
            die(f"master answered {resp.status_code}: {message}", EXIT_UNREACHABLE)
        if resp.status_code == 404:
            die(message, EXIT_FAILED)
        die(f"{message} ({resp.status_code})", EXIT_FAILED)


def _config_file() -> dict[str, Any]:
    path = Path(os.environ.get("MODELFLEET_CONFIG") or Path.home() / ".config/modelfleet/cli.json")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        die(f"config file {path}: {exc}")
    if not isinstance(data, dict):
        die(f"config file {path} must hold a JSON object")
    return data


def connect(ctx: click.Context) -> Master:
    from ..tokens import TokenError, read_token_file

    opts = ctx.obj or {}
    conf = _config_file()
    url = (
        opts.get("master_url") or os.environ.get("MODELFLEET_MASTER_URL") or conf.get("master_url")
    )
    if not url:
        die("no master URL: use --master-url, MODELFLEET_MASTER_URL or the config file")
    if not str(url).startswith(("http://", "https://")):
        die(f"master URL {url!r} must start with http:// or https://")
    token_file = (
        opts.get("token_file") or os.environ.get("MODELFLEET_TOKEN_FILE") or conf.get("token_file")
    )
    token = os.environ.get("MODELFLEET_TOKEN") if not token_file else None
    if token_file:
        try:
            token = read_token_file(token_file)
        except TokenError as exc:
            die(str(exc))
    if not token:
        die(
            "no token: use --token-file, MODELFLEET_TOKEN_FILE, MODELFLEET_TOKEN or the config file"
        )
    return Master(str(url), token)


def emit(ctx: click.Context, data: Any, show: Any) -> None:
    """``--json``: the master's answer as is; otherwise ``show(data)`` for people."""
    if (ctx.obj or {}).get("json"):
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        show(data)


def table(rows: list[list[Any]], headers: list[str]) -> None:
    cells = [headers] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))


def common_options(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")(f)
    f = click.option("--token-file", help="operator token file [env MODELFLEET_TOKEN_FILE]")(f)
    f = click.option("--master-url", help="e.g. http://master [env MODELFLEET_MASTER_URL]")(f)
    return f


def setup(
    ctx: click.Context, master_url: str | None, token_file: str | None, as_json: bool
) -> Master:
    ctx.obj = {"master_url": master_url, "token_file": token_file, "json": as_json}
    return connect(ctx)
