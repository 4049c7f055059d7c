"""models.config rendering, parsing and tensor helpers (no TensorFlow needed)."""

from __future__ import annotations

import pytest

from modelfleet.names import InvalidName
from modelfleet.tfserving import (
    ConfigError,
    ModelEntry,
    make_tensor,
    parse_config,
    render_config,
    tensor_to_list,
    to_proto,
)


def test_render_is_byte_stable_and_sorted() -> None:
    a = ModelEntry.make("b", "/m/b", [3, 1], {"stable": 1, "canary": 3})
    b = ModelEntry.make("a", "/m/a", [7])
    text = render_config([a, b])
    assert text == render_config([b, a])
    assert text.index('name: "a"') < text.index('name: "b"')
    assert text.index("versions: 1") < text.index("versions: 3")
    assert text.index('key: "canary"') < text.index('key: "stable"')
    assert text.endswith("}\n")
    parsed = parse_config(text)
    assert [(e.name, e.versions, e.labels, e.policy) for e in parsed] == [
        ("a", (7,), (), "specific"),
        ("b", (1, 3), (("canary", 3), ("stable", 1)), "specific"),
    ]


def test_empty_config_selects_model_config_list() -> None:
    assert to_proto([]).WhichOneof("config") == "model_config_list"


@pytest.mark.parametrize(
    ("name", "versions", "labels"),
    [("../etc", [1], {}), ("ok", [0], {}), ("ok", ["01"], {}), ("ok", [1], {"Stable": 1})],
)
def test_entry_validation(name: str, versions: list[object], labels: dict[str, int]) -> None:
    with pytest.raises(InvalidName):
        ModelEntry.make(name, "/m", versions, labels)  # type: ignore[arg-type]


def test_label_must_point_to_served_version() -> None:
    with pytest.raises(ConfigError):
        ModelEntry.make("m", "/m", [1], {"stable": 2})


def test_parse_policies_and_errors() -> None:
    text = """
    model_config_list {
      config { name: "l" base_path: "/l" model_platform: "tensorflow"
               model_version_policy { latest { num_versions: 2 } } }
      config { name: "d" base_path: "/d" model_platform: "tensorflow" }
      config { name: "all" base_path: "/x" model_platform: "tensorflow"
               model_version_policy { all {} } }
    }"""
    by = {e.name: e for e in parse_config(text)}
    assert (by["l"].policy, by["l"].latest_count) == ("latest", 2)
    assert (by["d"].policy, by["d"].latest_count) == ("latest", 1)
    assert by["all"].policy == "all"
    with pytest.raises(ConfigError, match="multiple times"):
        parse_config(
            'model_config_list { config { name: "a" base_path: "/a" model_platform: "tensorflow" }'
            ' config { name: "a" base_path: "/b" model_platform: "tensorflow" } }'
        )
    with pytest.raises(ConfigError, match="does not parse"):
        parse_config("model_config_list { config { nme: 1 } }")
    with pytest.raises(ConfigError, match="neither"):
        parse_config('model_config_list { config { name: "a" base_path: "/a" } }')


def test_tensor_roundtrip() -> None:
    assert tensor_to_list(make_tensor([[1.0, 2.0], [3.0, 4.0]])) == [[1.0, 2.0], [3.0, 4.0]]
    assert tensor_to_list(make_tensor(5, "int64")) == 5
    assert tensor_to_list(make_tensor(["a", "b"], "string")) == [b"a", b"b"]
    assert tensor_to_list(make_tensor([], "float32")) == []
    with pytest.raises(ValueError, match="ragged"):
        make_tensor([[1.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match="unsupported"):
        make_tensor([1], "complex64")
