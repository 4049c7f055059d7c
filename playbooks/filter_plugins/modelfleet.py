"""Filters the modelfleet playbooks use to judge health gates from the daemons' JSON.

- ``models | modelfleet_pending_versions``: from a config manager's ``GET /api/v1/models``
  ``models`` object, the ``model/version`` pairs that are desired but not AVAILABLE in TF Serving
  (empty list = every desired model is served).
- ``status | modelfleet_unhealthy_hosts(hostnames)``: from the master's
  ``GET /api/v1/cluster/status``, one line per given host that is missing, not ``healthy``, or
  still in maintenance (empty list = the hosts are back in full service).
"""

from __future__ import annotations

from typing import Any


def modelfleet_pending_versions(models: Any) -> list[str]:
    pending: list[str] = []
    if not isinstance(models, dict):
        return ["config manager answered without a models object"]
    for name in sorted(models):
        info = models[name] if isinstance(models[name], dict) else {}
        available = {
            str(entry.get("version"))
            for entry in info.get("loaded") or []
            if isinstance(entry, dict) and entry.get("state") == "AVAILABLE"
        }
        for version in info.get("desired") or []:
            if str(version) not in available:
                pending.append(f"{name}/{version}")
    return pending


def modelfleet_unhealthy_hosts(
    status: Any, hostnames: list[str], allow_maintenance: bool = False
) -> list[str]:
    hosts = {h.get("hostname"): h for h in (status or {}).get("hosts", []) if isinstance(h, dict)}
    bad: list[str] = []
    for hostname in hostnames:
        host = hosts.get(hostname)
        if host is None:
            bad.append(f"{hostname}: not registered with the master")
        elif host.get("state") != "healthy":
            problems = (
                "; ".join(
                    str(p.get("message")) if isinstance(p, dict) else str(p)
                    for p in host.get("problems") or []
                )
                or "no detail"
            )
            bad.append(f"{hostname}: {host.get('state')} ({problems})")
        elif host.get("maintenance") and not allow_maintenance:
            bad.append(f"{hostname}: still in maintenance")
    return bad


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "modelfleet_pending_versions": modelfleet_pending_versions,
            "modelfleet_unhealthy_hosts": modelfleet_unhealthy_hosts,
        }
