"""The fleet's alert rules load, fire as the RUNBOOK says, and de-duplicate per incident.

promtool (Debian's prometheus package, installed by scripts/install-system-deps.sh) checks
the rules and runs their unit tests (ops/prometheus/alerts_test.yml). Without promtool the
rules are still parsed and every expression's metric names are checked against the metrics
the daemons really export.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

OPS = Path(__file__).resolve().parents[2] / "ops"
DAEMONS = Path(__file__).resolve().parents[2] / "daemons" / "modelfleet"


def rules() -> list[dict]:
    doc = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool not installed")
def test_promtool_checks_and_unit_tests_pass() -> None:
    check = subprocess.run(
        ["promtool", "check", "rules", "alerts.yml"],
        cwd=OPS / "prometheus",
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(rules())} rules found" in check.stdout
    unit = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        cwd=OPS / "prometheus",
        capture_output=True,
        text=True,
        check=False,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_every_rule_is_documented_and_routed() -> None:
    incidents = set()
    for rule in rules():
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        incidents.add(rule["labels"]["incident"])
    am = yaml.safe_load((OPS / "alertmanager" / "alertmanager.yml").read_text())
    assert am["route"]["group_by"] == ["incident"]
    for inhibit in am["inhibit_rules"]:
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            label, _, value = re.match(r'(\w+)(=~?)"(.*)"', matcher).groups()
            if label == "incident":
                assert set(value.split("|")) <= incidents, matcher


def test_rules_only_use_metrics_the_daemons_export() -> None:
    exported = set(
        re.findall(
            r'"(modelfleet_[a-z_]+)"', "\n".join(p.read_text() for p in DAEMONS.rglob("*.py"))
        )
    )
    prefixes = set(
        re.findall(
            r'p = "(modelfleet_[a-z]+_)"', "\n".join(p.read_text() for p in DAEMONS.rglob("*.py"))
        )
    )
    for rule in rules():
        for name in re.findall(r"\b(modelfleet_[a-z_]+)", rule["expr"]):
            known = name in exported or any(
                name.startswith(prefix)
                and f'p + "{name[len(prefix) :]}"'
                in "".join(p.read_text() for p in DAEMONS.rglob("metrics.py"))
                for prefix in prefixes
            )
            assert known, f"{rule['alert']} uses {name}, which no daemon exports"


def test_scrape_config_labels_every_node_target_with_its_host() -> None:
    """The alert rules join `up` with modelfleet_node_maintenance on `host`."""
    doc = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    for name in ("tfserving", "remote_model_puller", "config_manager"):
        (relabel,) = jobs[name]["relabel_configs"]
        assert relabel["source_labels"] == ["__address__"] and relabel["target_label"] == "host"
        regex = re.compile(relabel["regex"])  # Prometheus anchors relabel regexes
        for address, host in (
            ("node17.icfsys.com:8501", "node17.icfsys.com"),
            ("10.0.0.7:8002", "10.0.0.7"),
            ("[fd00::7]:8501", "fd00::7"),
            ("node3", "node3"),
        ):
            match = regex.fullmatch(address)
            assert match and match.group(1) == host, address
    node_alerts = [r for r in rules() if "up{job=" in r["expr"] and "master" not in r["expr"]]
    for rule in node_alerts:
        if rule["alert"] != "TFServingCapacityLow":
            assert "modelfleet_node_maintenance" in rule["expr"], rule["alert"]
