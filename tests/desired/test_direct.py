"""``modelfleet promote|rollback|pin ... --direct``: the break-glass path when the master is
down applies the same edit straight to the bucket, under GCS's generation precondition.

The GCS emulator ignores ``if_generation_match`` (DESIGN.md), so this runs against the fake
client of ``tests.support.fakegcs``, which keeps it; the CLI opens its store as in
production (``open_store("gs://…")``) with only the client factory replaced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from modelfleet.cli import cli
from modelfleet.desired import DESIRED_KEY, DesiredState, ModelEntry, read_remote, write_remote
from modelfleet.store import GCSStore
from tests.support.fakegcs import FakeBlob, FakeClient

URL = "gs://fake/models"
KEY = f"models/{DESIRED_KEY}"
ENTRY = ModelEntry(published=(1, 2, 3), versions=(2,), labels={"stable": 2}, history=((1,),))


class RacingClient(FakeClient):
    """A fake GCS where another writer rewrites desired.json just before our next write."""

    def __init__(self) -> None:
        super().__init__()
        self.race_next_write = False
        outer = self

        class RacingBlob(FakeBlob):
            def upload_from_string(self, data: bytes, content_type: Any = None, **kw: Any) -> None:
                if outer.race_next_write and self.name == KEY:
                    outer.race_next_write = False
                    current = self.bucket.objects[KEY][0]
                    FakeBlob(self.bucket, KEY).upload_from_string(current)  # the other writer
                super().upload_from_string(data, content_type, **kw)

        self._bucket.blob = lambda name, generation=None: RacingBlob(  # type: ignore[method-assign]
            self._bucket, name, generation
        )


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[RacingClient]:
    fake = RacingClient()
    monkeypatch.setattr("modelfleet.store.gcs.make_client", lambda *a, **k: fake)
    store = GCSStore(URL, client=fake)
    write_remote(store, DesiredState(models={"m": ENTRY}), if_generation_match=0, updated_by="t")
    yield fake


def run(*args: str) -> Any:
    env = {"REMOTE_MODEL_DIRECTORY": URL, "MODELFLEET_MASTER_URL": "http://127.0.0.1:9"}
    return CliRunner().invoke(cli, list(args), env=env)


def state(fake: FakeClient) -> tuple[ModelEntry, int]:
    remote = read_remote(GCSStore(URL, client=fake))
    assert remote.state is not None
    return remote.state.models["m"], remote.generation


def test_promote_rollback_pin_direct(client: RacingClient) -> None:
    _, gen = state(client)
    result = run("promote", "m", "3", "--direct")
    assert result.exit_code == 0, result.output
    assert "pullers pick it up at their next poll" in result.output
    entry, gen2 = state(client)
    assert entry.versions == (3,) and dict(entry.labels) == {"stable": 3} and gen2 == gen + 1
    raw = json.loads(client._bucket.objects[KEY][0])
    assert raw["updated_by"].endswith("@cli-direct")
    assert run("rollback", "m", "--direct").exit_code == 0
    assert state(client)[0].versions == (2,)
    assert run("pin", "m", "1", "--direct", "--json").exit_code == 0
    entry, _ = state(client)
    assert entry.pinned and entry.versions == (1,)


def test_direct_needs_no_master_but_writes_once(client: RacingClient) -> None:
    _, gen = state(client)
    result = run("promote", "m", "3", "--direct", "--json")
    reply = json.loads(result.output)
    assert reply["changed"] is True and reply["generation"] == gen + 1 and reply["sync"] is None
    again = json.loads(run("promote", "m", "3", "--direct", "--json").output)
    assert again["changed"] is False and again["generation"] == gen + 1  # no second write


def test_a_lost_race_changes_nothing(client: RacingClient) -> None:
    before_entry, gen = state(client)
    client.race_next_write = True
    result = run("promote", "m", "3", "--direct")
    assert result.exit_code == 1 and "lost race" in result.output
    assert result.output.count("\n") == 1
    entry, gen2 = state(client)
    assert entry == before_entry and gen2 == gen + 1  # only the other writer's write landed


def test_if_generation_and_refusals(client: RacingClient) -> None:
    before = dict(client._bucket.objects)
    for args, code, needle in [
        (["promote", "m", "3", "--direct", "--if-generation", "5"], 1, "generation"),
        (["retire", "typo", "--direct"], 1, "no model 'typo'"),
        (["promote", "m", "9", "--direct"], 1, "not published"),
        (["promote", "m", "01", "--direct"], 2, "invalid version"),
        (["promote", "m\n", "3", "--direct"], 2, "invalid model name"),
    ]:
        result = run(*args)
        assert result.exit_code == code and needle in result.output, (args, result.output)
        assert result.output.count("\n") == 1
    assert client._bucket.objects == before


def test_direct_without_a_bucket_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        cli, ["promote", "m", "3", "--direct"], env={"REMOTE_MODEL_DIRECTORY": ""}
    )
    assert result.exit_code == 2 and "--remote" in result.output
