"""Property: any sequence of edits, accepted or refused, keeps the desired state writable and
its rules true — served versions are published, labels point at served versions, history
is bounded — and a refused edit changes nothing."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from modelfleet.desired import (
    HISTORY_LIMIT,
    DesiredState,
    Edit,
    EditError,
    apply,
    encode_desired,
    parse_desired,
    served_versions,
)

EXAMPLES = 1000 if os.environ.get("MODELFLEET_SOAK") else 150
MODELS = ["a", "b"]
versions = st.integers(min_value=1, max_value=6)
edits = st.one_of(
    st.builds(lambda m, v: Edit("publish", m, v), st.sampled_from(MODELS), versions),
    st.builds(lambda m, v: Edit("promote", m, v), st.sampled_from(MODELS), versions),
    st.builds(lambda m: Edit("rollback", m), st.sampled_from(MODELS)),
    st.builds(lambda m, v: Edit("pin", m, v), st.sampled_from(MODELS), st.none() | versions),
    st.builds(lambda m: Edit("unpin", m), st.sampled_from(MODELS)),
    st.builds(
        lambda m, label, v: Edit("label", m, v, label=label),
        st.sampled_from(MODELS),
        st.sampled_from(["stable", "canary"]),
        versions,
    ),
    st.builds(
        lambda m, label: Edit("unlabel", m, label=label),
        st.sampled_from(MODELS),
        st.sampled_from(["stable", "canary"]),
    ),
    st.builds(lambda m: Edit("retire", m), st.sampled_from(MODELS)),
    st.builds(lambda m: Edit("unretire", m), st.sampled_from(MODELS)),
    st.builds(lambda m, v: Edit("forget_version", m, v), st.sampled_from(MODELS), versions),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(edits, max_size=40))
def test_any_edit_sequence_keeps_the_rules(sequence: list[Edit]) -> None:
    state = DesiredState()
    for edit in sequence:
        try:
            new = apply(state, edit)
        except EditError:
            continue  # a refusal returns nothing: the caller keeps (and writes) nothing
        for entry in new.models.values():
            served = served_versions(entry)
            assert set(entry.versions) <= set(entry.published)
            if not entry.retired:
                assert set(entry.labels.values()) <= set(served)
            assert len(entry.history) <= HISTORY_LIMIT
            assert all(set(h) <= set(entry.published) for h in entry.history)
        reread, problems = parse_desired(encode_desired(new))  # always writable, reads back
        assert problems == [] and reread.models == new.models
        state = new
