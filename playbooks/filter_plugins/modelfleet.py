"""Filters the modelfleet playbooks use to judge health gates from the daemons' JSON.

The answers are read through their declarations (``modelfleet.contracts``), the same ones
the daemons produce them from, so a gate can never misread a renamed or retyped field: an
answer that breaks its contract fails the gate and says which field. The modelfleet package
must be importable by the controller's Python (it is in the project's venv; elsewhere
``pip install`` the wheel ``build_wheelhouse.yml`` builds).

- ``models | modelfleet_pending_versions``: from a config manager's ``GET /api/v1/models``
  ``models`` object, the ``model/version`` pairs that are desired but not AVAILABLE in TF
  Serving (empty list = every desired model is served).
- ``status | modelfleet_unhealthy_hosts(hostnames)``: from the master's
  ``GET /api/v1/cluster/status``, one line per given host that is missing, not ``healthy``,
  or still in maintenance (empty list = the hosts are back in full service).
"""

from __future__ import annotations

from typing import Any


def _contracts() -> Any:
    try:
        from modelfleet.contracts import cluster, node, schema
    except ImportError as exc:  # pragma: no cover - depends on the controller
        from ansible.errors import AnsibleFilterError

        raise AnsibleFilterError(
            "the modelfleet filters need the modelfleet package on the controller "
            f"(pip install the wheel from build_wheelhouse.yml): {exc}"
        ) from None
    return cluster, node, schema


def modelfleet_pending_versions(models: Any) -> list[str]:
    _, node, schema = _contracts()
    if not isinstance(models, dict):
        return ["config manager answered without a models object"]
    pending: list[str] = []
    for name in sorted(models):
        try:
            info = schema.from_json(node.ModelStatus, models[name], f"models.{name}")
        except schema.ContractError as exc:
            pending.append(f"{name}: config manager answer breaks its contract: {exc}")
            continue
        pending.extend(f"{name}/{v}" for v in info.pending())
    return pending


def modelfleet_unhealthy_hosts(
    status: Any, hostnames: list[str], allow_maintenance: bool = False
) -> list[str]:
    cluster, _, schema = _contracts()
    raw_hosts = (status or {}).get("hosts") if isinstance(status, dict) else None
    if not isinstance(raw_hosts, list):
        return [f"{h}: the master's cluster status has no hosts list" for h in hostnames]
    hosts: dict[str, Any] = {}
    broken: dict[str, str] = {}
    for i, raw in enumerate(raw_hosts):
        try:
            host = schema.from_json(cluster.HostStatus, raw, f"hosts[{i}]")
        except schema.ContractError as exc:
            name = raw.get("hostname") if isinstance(raw, dict) else None
            broken[str(name)] = str(exc)
            continue
        hosts[host.hostname] = host
    bad: list[str] = []
    for hostname in hostnames:
        host = hosts.get(hostname)
        if hostname in broken:
            bad.append(f"{hostname}: status breaks its contract: {broken[hostname]}")
        elif host is None:
            bad.append(f"{hostname}: not registered with the master")
        elif host.state != "healthy":
            problems = "; ".join(p.message for p in host.problems) or "no detail"
            bad.append(f"{hostname}: {host.state} ({problems})")
        elif host.maintenance and not allow_maintenance:
            bad.append(f"{hostname}: still in maintenance")
    return bad


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "modelfleet_pending_versions": modelfleet_pending_versions,
            "modelfleet_unhealthy_hosts": modelfleet_unhealthy_hosts,
        }
