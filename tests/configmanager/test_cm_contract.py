"""contracts.node: the config manager's documents round-trip and bad ones name the field."""

from __future__ import annotations

import pytest

from modelfleet.contracts.node import (
    ConfigManagerStatus,
    ContractError,
    LoadedVersion,
    ModelServingConfig,
    ModelStatus,
    QuarantineClearResult,
    QuarantineEntry,
    QuarantineList,
    TFServingReach,
)

ENTRY = QuarantineEntry("m", 3, "DATA_LOSS: empty", "2026-01-01T00:00:00Z", "abc123")
STATUS = ConfigManagerStatus(
    hostname="node1",
    zone="zone1",
    tfserving=TFServingReach("127.0.0.1:8500", True),
    models={
        "m": ModelStatus(
            desired=(3,),
            local=(2, 3),
            labels={"stable": 2},
            quarantined=(ENTRY,),
            loaded=(LoadedVersion(2, "AVAILABLE"), LoadedVersion(3, "END", "empty")),
            note="desired [3] not servable (3 quarantined); serving [2]",
        )
    },
    config={"m": ModelServingConfig((2,), {"stable": 2})},
    in_sync=True,
    master={"url": "http://master", "registered": True, "error": ""},
)


def test_round_trips() -> None:
    assert ConfigManagerStatus.from_json(STATUS.to_json()) == STATUS
    listed = QuarantineList("node1", "zone1", (ENTRY,))
    assert QuarantineList.from_json(listed.to_json()) == listed
    cleared = QuarantineClearResult("node1", (ENTRY,))
    assert QuarantineClearResult.from_json(cleared.to_json()) == cleared
    assert STATUS.models["m"].serving() == [2]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("service",), "remote_model_puller", "status.service"),
        (("tfserving", "reachable"), "yes", "tfserving.reachable"),
        (("models", "m", "loaded", 0, "state"), "READY", "not a TF Serving version state"),
        (("models", "m", "desired"), ["3"], "models.m.desired[]"),
        (("config", "m", "labels", "stable"), "2", "config.m.labels.stable"),
    ],
)
def test_bad_documents_name_the_field(
    path: tuple[object, ...], value: object, message: str
) -> None:
    doc = STATUS.to_json()
    target = doc
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    with pytest.raises(ContractError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ConfigManagerStatus.from_json(doc)
