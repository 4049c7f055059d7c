"""Property tests of the one validator (modelfleet.names): each rule accepts exactly what its
specification says — a full match, so a trailing newline never passes — and whatever it
accepts is safe as a path component and as a URL path segment."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from modelfleet.names import (
    HOSTNAME_PATTERN,
    LABEL_PATTERN,
    MAX_VERSION,
    MODEL_NAME_PATTERN,
    VERSION_PATTERN,
    InvalidName,
    parse_version,
    safe_join,
    shown,
    validate_hostname,
    validate_label,
    validate_model_name,
    validate_zone,
    version_from_json,
)
from modelfleet.store import LocalStore, complete_versions, list_models

EXAMPLES = 2000 if os.environ.get("MODELFLEET_SOAK") else 300

# Specifications, written independently of the implementation.
NAME_ALPHABET = "abcXYZ019_.-"


def spec_model(s: str) -> bool:
    return (
        1 <= len(s) <= 128
        and s[0].isascii()
        and s[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "_.-") for c in s)
        and ".." not in s
    )


def spec_version_text(s: str) -> bool:
    return s != "" and all(c in "0123456789" for c in s) and s[0] != "0" and int(s) <= MAX_VERSION


def spec_label(s: str) -> bool:
    return (
        1 <= len(s) <= 63
        and "a" <= s[0] <= "z"
        and all(("a" <= c <= "z") or c in "0123456789_-" for c in s)
    )


def accepts(check, value) -> bool:  # type: ignore[no-untyped-def]
    try:
        check(value)
    except InvalidName:
        return False
    return True


hostile = st.one_of(
    st.text(max_size=140),
    st.text(alphabet=NAME_ALPHABET + "\n\r\t /\\%\x00é٣²", max_size=140),
    st.builds(
        lambda s, t: s + t,
        st.text(alphabet=NAME_ALPHABET, min_size=1),
        st.sampled_from(["\n", "\r\n", " ", "\x00", "/", ""]),
    ),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(hostile)
@example("ranker\n")
@example("ranker")
@example("x/../ranker")
@example("a" * 128)
@example("a" * 129)
def test_model_names_and_zones_follow_the_spec(s: str) -> None:
    assert accepts(validate_model_name, s) == spec_model(s)
    assert accepts(validate_zone, s) == spec_model(s)
    if spec_model(s):
        assert quote(s, safe="") == s  # safe as a URL path segment as is
        assert "/" not in s and s not in (".", "..")  # and as one path component


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.one_of(hostile, st.integers(min_value=0, max_value=10**20).map(str)))
@example("01")
@example("0")
@example("1e3")
@example("+1")
@example("-1")
@example(" 1")
@example("1\n")
@example("٣")
@example("²")
@example(str(MAX_VERSION))
@example(str(MAX_VERSION + 1))
def test_version_text_follows_the_spec(s: str) -> None:
    assert accepts(parse_version, s) == spec_version_text(s)
    if spec_version_text(s):
        assert str(parse_version(s)) == s  # one version, one spelling


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(max_size=5),
        st.none(),
    )
)
def test_json_versions_are_integer_values(v: object) -> None:
    expected = (
        not isinstance(v, bool)
        and isinstance(v, int | float)
        and float(v).is_integer()
        and 1 <= v <= MAX_VERSION
    )
    assert accepts(version_from_json, v) == expected
    assert not accepts(parse_version, True)


@settings(max_examples=EXAMPLES, deadline=None)
@given(hostile)
@example("canary\n")
@example("Stable")
def test_labels_follow_the_spec(s: str) -> None:
    assert accepts(validate_label, s) == spec_label(s)


@settings(max_examples=EXAMPLES, deadline=None)
@given(hostile)
@example("h1:80")
@example("h1/x")
@example("host\n")
@example("127.0.1.2")
def test_hostnames_are_one_clean_segment(s: str) -> None:
    if accepts(validate_hostname, s):
        assert quote(s, safe="") == s and 1 <= len(s) <= 253
        assert not s.startswith((".", "-")) and not s.endswith((".", "-"))


def test_published_patterns_say_the_same_as_the_checks() -> None:
    """The OpenAPI patterns (ECMA, ^...$) agree with the checks on the issue's cases."""
    cases = ["ranker", "ranker\n", "a..b", "x/y", "9lives", "", "canary", "01", "1"]
    for pattern, check in [
        (MODEL_NAME_PATTERN, validate_model_name),
        (LABEL_PATTERN, validate_label),
        (VERSION_PATTERN, parse_version),
        (HOSTNAME_PATTERN, validate_hostname),
    ]:
        for case in cases:
            # Python's $ would accept a final newline: the published ECMA pattern must not.
            ecma = re.fullmatch(pattern.removeprefix("^").removesuffix("$"), case) is not None
            assert ecma == accepts(check, case), (pattern, case)


def test_refused_values_are_shown_on_one_bounded_line() -> None:
    assert shown("ranker\n") == "'ranker\\n'"
    assert len(shown("x" * 10_000)) <= 60 and "\n" not in shown("a\nb" * 100)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_safe_join_never_leaves_its_base(part: str) -> None:
    base = Path("/srv/models")
    try:
        joined = safe_join(base, part, resolve=False)
    except InvalidName:
        return
    assert base in joined.parents


@pytest.mark.parametrize("bad", ["ranker\n", "ranker ", "a..b", "rank\\er"])
def test_the_bucket_never_yields_a_bad_name(tmp_path: Path, bad: str) -> None:
    """A directory named ``ranker\\n`` in the bucket (what ``publish --model $'ranker\\n'``
    used to create) is reported and skipped, never installed or served."""
    store = LocalStore(tmp_path)
    store.write(f"{bad}/1/_modelfleet.json", b"{}")
    store.write("ranker/1/_modelfleet.json", b"{}")
    names, skipped = list_models(store)
    assert names == ["ranker"] and skipped == [bad]
    catalog, refused = complete_versions(store)
    assert catalog == {"ranker": [1]} and refused == [f"{bad}/1"]
