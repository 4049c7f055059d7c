"""Capacity filter of the drain and rollout gates: the master's drain guard, for any host set.

- ``status | modelfleet_serving_share(hostnames)``: from the master's
  ``GET /api/v1/cluster/status``, how much of the fleet still serves with ``hostnames`` taken
  out: ``{"share", "serving", "total", "not_serving"}``. A host serves when its state is
  healthy or degraded, its TF Serving answers and it is not in maintenance, as the master's
  drain guard (``GET /api/v1/drain-check``, master/drain.py) counts for a zone; a node drain
  and a rollout batch are judged the same way, against a share of the fleet and never "100 %
  healthy", which a 1,000-node fleet never is.

The status is read through its declaration (``modelfleet.contracts.cluster.HostStatus``), like
the other gate filters (modelfleet.py): a host whose status breaks the contract does not serve.
"""

from __future__ import annotations

from typing import Any

SERVING_STATES = ("healthy", "degraded")


def modelfleet_serving_share(status: Any, hostnames: list[str]) -> dict[str, Any]:
    try:
        from modelfleet.contracts import cluster, schema
    except ImportError as exc:  # pragma: no cover - depends on the controller
        from ansible.errors import AnsibleFilterError

        raise AnsibleFilterError(
            f"modelfleet_serving_share needs the modelfleet package on the controller: {exc}"
        ) from None
    raw_hosts = status.get("hosts") if isinstance(status, dict) else None
    if not isinstance(raw_hosts, list):
        return {
            "share": 0.0,
            "serving": 0,
            "total": 0,
            "not_serving": ["the master's cluster status has no hosts list"],
        }
    leaving = set(hostnames or [])
    serving: list[str] = []
    not_serving: list[str] = []
    for i, raw in enumerate(raw_hosts):
        try:
            host = schema.from_json(cluster.HostStatus, raw, f"hosts[{i}]")
        except schema.ContractError as exc:
            name = raw.get("hostname") if isinstance(raw, dict) else f"hosts[{i}]"
            not_serving.append(f"{name}: status breaks its contract: {exc}")
            continue
        if host.hostname in leaving:
            continue
        if host.state in SERVING_STATES and host.tfserving.reachable and not host.maintenance:
            serving.append(host.hostname)
        else:
            why = "in maintenance" if host.maintenance else host.state
            not_serving.append(f"{host.hostname}: {why}")
    total = len(raw_hosts)
    return {
        "share": round(len(serving) / total, 4) if total else 0.0,
        "serving": len(serving),
        "total": total,
        "not_serving": sorted(not_serving),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"modelfleet_serving_share": modelfleet_serving_share}
