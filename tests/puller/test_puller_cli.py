"""Settings and CLI errors: one line naming the variable, exit 2, nothing touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelfleet.cli import cli
from tests.support.storeutil import write_model


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "local").mkdir()
    (tmp_path / "bucket").mkdir()
    return {
        "LOCAL_MODEL_DIRECTORY": str(tmp_path / "local"),
        "REMOTE_MODEL_DIRECTORY": str(tmp_path / "bucket"),
        "MODELFLEET_STATE_DIR": str(tmp_path / "state"),
    }


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"LOCAL_MODEL_DIRECTORY": ""}, "LOCAL_MODEL_DIRECTORY"),
        ({"LOCAL_MODEL_DIRECTORY": "relative/dir"}, "LOCAL_MODEL_DIRECTORY"),
        ({"LOCAL_MODEL_DIRECTORY": "/nonexistent/x"}, "LOCAL_MODEL_DIRECTORY"),
        ({"REMOTE_MODEL_DIRECTORY": ""}, "REMOTE_MODEL_DIRECTORY"),
        ({"REMOTE_MODEL_DIRECTORY": "s3://bucket"}, "REMOTE_MODEL_DIRECTORY"),
        ({"REMOTE_MODEL_DIRECTORY": "gs://"}, "REMOTE_MODEL_DIRECTORY"),
        ({"MODELFLEET_POLL_INTERVAL": "soon"}, "MODELFLEET_POLL_INTERVAL"),
        ({"MODELFLEET_POLL_INTERVAL": "0"}, "MODELFLEET_POLL_INTERVAL"),
        ({"MODELFLEET_RETENTION": "-1"}, "MODELFLEET_RETENTION"),
        ({"MODELFLEET_DOWNLOAD_WORKERS": "0"}, "MODELFLEET_DOWNLOAD_WORKERS"),
        ({"MODELFLEET_SLICE_SIZE_MB": "big"}, "MODELFLEET_SLICE_SIZE_MB"),
        ({"MODELFLEET_DISK_RESERVE_MB": "1.5"}, "MODELFLEET_DISK_RESERVE_MB"),
        ({"MODELFLEET_BIND": "8001"}, "MODELFLEET_BIND"),
        ({"MODELFLEET_MASTER_URL": "ftp://x"}, "MODELFLEET_MASTER_URL"),
        ({"MODELFLEET_ZONE": "../z"}, "MODELFLEET_ZONE"),
        ({"MODELFLEET_FSYNC": "maybe"}, "MODELFLEET_FSYNC"),
        ({"MODELFLEET_LOG_LEVEL": "LOUD"}, "MODELFLEET_LOG_LEVEL"),
        ({"MODELFLEET_CLUSTER_TOKEN_FILE": "/nonexistent"}, "MODELFLEET_CLUSTER_TOKEN_FILE"),
        ({"CLOUDSDK_CONFIG": "/nonexistent"}, "CLOUDSDK_CONFIG"),
    ],
)
@pytest.mark.parametrize("command", ["run", "check-config"])
def test_bad_setting_exits_2_naming_variable(
    base_env: dict[str, str], override: dict[str, str], variable: str, command: str
) -> None:
    result = CliRunner().invoke(cli, ["puller", command], env={**base_env, **override})
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr


def test_flags_override_env(base_env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["puller", "check-config", "--poll-interval", "2.5", "--retention", "3", "--no-fsync"],
        env=base_env,
    )
    assert result.exit_code == 0, result.output
    assert '"poll_interval": 2.5' in result.output and '"retention": 3' in result.output
    assert '"fsync": false' in result.output
    bad = CliRunner().invoke(cli, ["puller", "check-config", "--retention", "x"], env=base_env)
    assert bad.exit_code == 2 and "MODELFLEET_RETENTION" in bad.stderr


def test_token_file_too_open_is_refused(base_env: dict[str, str], tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("x" * 32)
    token.chmod(0o644)
    env = {**base_env, "MODELFLEET_CLUSTER_TOKEN_FILE": str(token)}
    result = CliRunner().invoke(cli, ["puller", "check-config"], env=env)
    assert result.exit_code == 2 and "0600" in result.stderr
    assert "x" * 32 not in result.output + result.stderr


def test_publish_cli(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    src = write_model(tmp_path / "src")
    runner = CliRunner()
    env = {"REMOTE_MODEL_DIRECTORY": str(bucket)}
    ok = runner.invoke(cli, ["publish", str(src), "--model", "m"], env=env)
    assert ok.exit_code == 0, ok.output
    assert f"published {bucket}/m/1" in ok.stdout
    again = runner.invoke(
        cli, ["publish", str(src), "--model", "m", "--version", "1", "-q"], env=env
    )
    assert again.exit_code == 1 and "already exists" in again.stderr
    bad = runner.invoke(cli, ["publish", str(src), "--model", "a/b"], env=env)
    assert bad.exit_code == 2 and "invalid model name" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    notsm = runner.invoke(cli, ["publish", str(empty), "--model", "m"], env=env)
    assert notsm.exit_code == 1 and "saved_model.pb" in notsm.stderr
    # Adopt: files copied by another tool, then a manifest written from metadata.
    (bucket / "m" / "9").mkdir()
    (bucket / "m" / "9" / "saved_model.pb").write_bytes(b"pb")
    adopted = runner.invoke(cli, ["publish", "--adopt", f"{bucket}/m/9"], env=env)
    assert adopted.exit_code == 0, adopted.output
    assert (bucket / "m" / "9" / "_modelfleet.json").is_file()
    noremote = runner.invoke(cli, ["publish", str(src), "--model", "m"], env={})
    assert noremote.exit_code == 2 and "REMOTE_MODEL_DIRECTORY" in noremote.stderr


def test_publish_adopt_on_emulator(gcs_bucket: str) -> None:
    from modelfleet.store import open_store, read_manifest

    store = open_store(gcs_bucket)
    store.write("m/4/saved_model.pb", b"pb-bytes")
    store.write("m/4/variables/variables.index", b"idx")
    result = CliRunner().invoke(cli, ["publish", "--adopt", f"{gcs_bucket}/m/4"])
    assert result.exit_code == 0, result.output
    manifest, _ = read_manifest(store, "m", 4)
    assert [f.path for f in manifest.files] == ["saved_model.pb", "variables/variables.index"]
