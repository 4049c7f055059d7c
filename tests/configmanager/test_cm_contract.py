"""contracts.node: the config manager's documents round-trip and bad ones name the field."""

from __future__ import annotations

from typing import Any

import pytest

from modelfleet.contracts.node import (
    ConfigManagerStatus,
    LoadedVersion,
    MasterLink,
    ModelServingConfig,
    ModelStatus,
    QuarantineClearResult,
    QuarantinedVersion,
    QuarantineEntry,
    QuarantineList,
    TFServingReach,
)
from modelfleet.contracts.schema import ContractError, from_json, json_schema, to_json

ENTRY = QuarantineEntry("m", 3, "DATA_LOSS: empty", "2026-01-01T00:00:00Z", "abc123")
STATUS = ConfigManagerStatus(
    hostname="127.0.1.1",
    zone="zone1",
    tfserving=TFServingReach("127.0.0.1:8500", True),
    models={
        "m": ModelStatus(
            desired=(3,),
            local=(2, 3),
            labels={"stable": 2},
            quarantined=(QuarantinedVersion(3, "DATA_LOSS: empty", "2026-01-01T00:00:00Z", "ab"),),
            loaded=(LoadedVersion(2, "AVAILABLE"), LoadedVersion(3, "END", "empty")),
            note="desired [3] not servable (3 quarantined); serving [2]",
        )
    },
    config={"m": ModelServingConfig((2,), {"stable": 2})},
    in_sync=True,
    master=MasterLink("http://master", True),
)


def test_round_trips() -> None:
    assert from_json(ConfigManagerStatus, to_json(STATUS)) == STATUS
    listed = QuarantineList("node1", "zone1", (ENTRY,))
    assert from_json(QuarantineList, to_json(listed)) == listed
    cleared = QuarantineClearResult("node1", (ENTRY,))
    assert from_json(QuarantineClearResult, to_json(cleared)) == cleared
    assert STATUS.models["m"].serving() == [2]
    assert "ConfigManagerStatus" in str(json_schema(ConfigManagerStatus, {}))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("service",), "remote_model_puller", "service: must be one of"),
        (("tfserving", "reachable"), "yes", "tfserving.reachable: must be true or false"),
        (("models", "m", "loaded", 0, "state"), "READY", "state: must be one of"),
        (("models", "m", "desired"), ["3"], "models.m.desired[0]"),
        (("config", "m", "labels", "stable"), "2", "config.m.labels.stable"),
        (("models", "../x"), {}, "invalid model name"),
    ],
)
def test_bad_documents_name_the_field(path: tuple[Any, ...], value: object, message: str) -> None:
    doc = to_json(STATUS)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ContractError) as info:
        from_json(ConfigManagerStatus, doc)
    assert message in str(info.value)
