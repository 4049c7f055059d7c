"""names, atomic writes, tokens and settings: the pieces every daemon builds on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelfleet.atomic import atomic_write_json, read_json, write_if_changed
from modelfleet.names import (
    InvalidName,
    parse_version,
    safe_join,
    validate_label,
    validate_model_name,
    validate_zone,
)
from modelfleet.settings import EnvReader, SettingsError
from modelfleet.tokens import TokenError, read_token_file, tokens_equal


@pytest.mark.parametrize("name", ["m", "half_plus_two", "a.b-c_1", "9lives", "x" * 128])
def test_good_model_names(name: str) -> None:
    assert validate_model_name(name) == name


@pytest.mark.parametrize(
    "name", ["", ".hidden", "-x", "a/b", "a..b", "..", "x" * 129, "sp ace", "é", None, 3]
)
def test_bad_model_names(name: object) -> None:
    with pytest.raises(InvalidName):
        validate_model_name(name)


@pytest.mark.parametrize(("value", "expected"), [(1, 1), ("42", 42), (2**63 - 1, 2**63 - 1)])
def test_versions(value: object, expected: int) -> None:
    assert parse_version(value) == expected


@pytest.mark.parametrize("value", [0, -1, "01", "1.0", " 1", True, 1.0, "", 2**63, "\u0661"])
def test_bad_versions(value: object) -> None:
    with pytest.raises(InvalidName):
        parse_version(value)


def test_labels_and_zones() -> None:
    assert validate_label("canary") == "canary"
    assert validate_zone("zone1") == "zone1"
    for bad in ("Stable", "1x", "", "a b"):
        with pytest.raises(InvalidName):
            validate_label(bad)
    with pytest.raises(InvalidName):
        validate_zone("../z")


def test_safe_join(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "m", "1/variables/x") == tmp_path.resolve() / "m/1/variables/x"
    for bad in ("..", "a/../..", "/etc", "", "a//b", "a/./b", "x\x00"):
        with pytest.raises(InvalidName):
            safe_join(tmp_path, bad)
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(InvalidName):
        safe_join(tmp_path, "link/passwd")


def test_atomic_write_and_write_if_changed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    atomic_write_json(path, {"b": 1, "a": [1, 2]}, mode=0o600)
    assert read_json(path) == {"a": [1, 2], "b": 1}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert path.read_text().index('"a"') < path.read_text().index('"b"')  # stable order
    assert write_if_changed(path, b"x") is True
    mtime = path.stat().st_mtime_ns
    assert write_if_changed(path, b"x") is False
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp left


def test_atomic_write_failure_leaves_old_content(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"v": object()})
    assert read_json(path) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_token_files(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_text("t" * 20 + "\n")
    good.chmod(0o600)
    assert read_token_file(good) == "t" * 20
    loose = tmp_path / "loose"
    loose.write_text("t" * 20)
    loose.chmod(0o640)
    short = tmp_path / "short"
    short.write_text("abc")
    short.chmod(0o600)
    for path, hint in ((loose, "0600"), (short, "16"), (tmp_path / "none", "does not exist")):
        with pytest.raises(TokenError, match=hint) as info:
            read_token_file(path)
        assert "t" * 20 not in str(info.value)
    with pytest.raises(TokenError):
        read_token_file(tmp_path)
    assert tokens_equal("a" * 20, "a" * 20)
    assert not tokens_equal("a" * 20, "b" * 20)
    assert not tokens_equal("", "")
    assert not tokens_equal(None, "x")


def test_env_reader(tmp_path: Path) -> None:
    env = {
        "I": "5",
        "F": "0.5",
        "B": "yes",
        "S": "text",
        "E": "",
        "HP": "127.0.0.1:8001",
        "U": "http://master/",
        "D": str(tmp_path),
    }
    r = EnvReader({"I": 7}, env)
    assert r.int("I", 1) == 7  # flags win
    assert r.float("F", 1.0) == 0.5
    assert r.bool("B", False) is True
    assert r.str("E", "dflt") == "dflt"  # empty counts as unset
    assert r.hostport("HP", "x:1") == ("127.0.0.1", 8001)
    assert r.url("U") == "http://master"
    assert r.directory("D") == tmp_path
    assert r.directory("NEW", str(tmp_path / "new"), create=True).is_dir()
    assert r.zone("Z", "default") == "default"
    assert r.hostname("HOSTNAME_NOT_SET")


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda r: r.int("X", 1), "X"),
        (lambda r: r.int("N", 1, minimum=10), "N"),
        (lambda r: r.float("X", 1.0), "X"),
        (lambda r: r.float("NAN", 1.0), "NAN"),
        (lambda r: r.bool("X", True), "X"),
        (lambda r: r.str("MISSING", required=True), "MISSING"),
        (lambda r: r.hostport("X", "a:1"), "X"),
        (lambda r: r.url("X"), "X"),
        (lambda r: r.directory("REL"), "REL"),
        (lambda r: r.directory("MISSINGDIR"), "MISSINGDIR"),
        (lambda r: r.zone("BADZONE", "x"), "BADZONE"),
        (lambda r: r.hostname("BADHOST"), "BADHOST"),
    ],
)
def test_env_reader_errors_name_the_variable(call, name: str) -> None:
    env = {
        "X": "nonsense",
        "N": "3",
        "NAN": "nan",
        "REL": "relative",
        "MISSINGDIR": "/nonexistent/dir",
        "BADZONE": "a/b",
        "BADHOST": "a b",
    }
    with pytest.raises(SettingsError, match=name):
        call(EnvReader(None, env))


def test_directory_not_writable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(SettingsError, match="writable"):
        EnvReader(None, {"D": str(ro)}).directory("D")


def test_ca_file_is_checked_at_start(tmp_path: Path) -> None:
    """A CA bundle setting that is missing or holds no certificate stops the daemon in one line
    naming the variable, rather than every TLS call failing its handshake later."""
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert EnvReader(None, {}).ca_file("MODELFLEET_MASTER_CA_FILE") is None
    assert EnvReader(None, {"C": str(pem)}).ca_file("C") == str(pem)
    for path, words in ((tmp_path / "nope.pem", "not a readable file"), (junk, "no PEM")):
        with pytest.raises(SettingsError, match=rf"^C={str(path)!r} .*{words}") as info:
            EnvReader(None, {"C": str(path)}).ca_file("C")
        assert "\n" not in str(info.value)
