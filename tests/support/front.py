"""The nginx front of the production roles, run for real in tests and benchmarks.

Renders ``roles/modelfleet_common/templates/front.conf.j2`` — the very file the roles install
— with the role's defaults, wraps it in a minimal ``nginx.conf`` and runs Debian's nginx in
the foreground under a temp prefix. ``nginx -t`` is run first, as the role's validate step.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2

from tests.support.helpers import port_open, wait_until

__all__ = ["NGINX", "Front", "FrontSpec", "render_front"]

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "roles" / "modelfleet_common" / "templates" / "front.conf.j2"
NGINX = "/usr/sbin/nginx"


@dataclass
class FrontSpec:
    """The template's ``front`` variable (the role's defaults: roles/modelfleet_common)."""

    name: str
    listen: str
    upstream: str
    tls: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    header_timeout: int = 5
    body_timeout: int = 5
    send_timeout: int = 10
    keepalive_timeout: int = 15
    connections_per_client: int = 32
    max_body: str = "64k"
    app_timeout: int = 120


def render_front(spec: FrontSpec) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["comment"] = lambda text: "\n".join(f"# {line}" for line in str(text).splitlines())
    return env.from_string(TEMPLATE.read_text()).render(front=asdict(spec), ansible_managed="test")


class Front:
    """nginx with one rendered front, in the foreground, under ``prefix``."""

    def __init__(self, prefix: Path, *specs: FrontSpec, worker_connections: int = 4096) -> None:
        self.prefix = prefix
        prefix.mkdir(parents=True, exist_ok=True)
        sites = []
        for spec in specs:
            site = prefix / f"{spec.name}.conf"
            site.write_text(render_front(spec))
            sites.append(f"    include {site};")
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(
            "worker_processes 1;\n"
            f"pid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/error.log warn;\n"
            "worker_rlimit_nofile 16384;\n"
            f"events {{ worker_connections {worker_connections}; }}\n"
            "http {\n"
            "    access_log off;\n"
            f"    client_body_temp_path {prefix}/body;\n"
            f"    proxy_temp_path {prefix}/proxy;\n"
            f"    fastcgi_temp_path {prefix}/fastcgi;\n"
            f"    uwsgi_temp_path {prefix}/uwsgi;\n"
            f"    scgi_temp_path {prefix}/scgi;\n" + "\n".join(sites) + "\n}\n"
        )
        self.specs = specs
        self.proc: subprocess.Popen[bytes] | None = None

    def check(self) -> None:
        """``nginx -t`` (what the role's validate step runs)."""
        result = subprocess.run(
            [NGINX, "-t", "-p", str(self.prefix), "-c", str(self.conf)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    def start(self) -> None:
        self.check()
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off; user root;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for spec in self.specs:
            host, _, port = spec.listen.rpartition(":")
            wait_until(lambda h=host, p=int(port): port_open(h, p), timeout=20, what="nginx")

    def pids(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        return [self.proc.pid, *(int(p) for p in out)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
