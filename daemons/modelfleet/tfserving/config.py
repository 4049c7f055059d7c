"""The models.config TF Serving reads: one deterministic text rendering of a model list.

The config manager writes this file and sends the same content with
HandleReloadConfigRequest. Rendering is deterministic (models sorted by name, versions
ascending, labels sorted) so an unchanged desired state yields the same bytes, the file is
not rewritten and TF Serving is not reloaded. Every model uses the ``specific`` version
policy: TF Serving never discovers a version on its own (DESIGN: only verified versions are
served).

The text is protobuf text format of ``tensorflow.serving.ModelServerConfig``; the contract
tests parse it with the official ``tensorflow-serving-api`` message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from google.protobuf import text_format

from ..names import parse_version, validate_label, validate_model_name
from .proto import serving_pb2

__all__ = ["ConfigError", "ModelEntry", "parse_config", "render_config", "to_proto"]


class ConfigError(ValueError):
    """A models.config that cannot be parsed or holds an invalid entry."""


@dataclass(frozen=True)
class ModelEntry:
    """One model in the config: serve exactly ``versions`` from ``base_path``."""

    name: str
    base_path: str
    versions: tuple[int, ...]
    labels: tuple[tuple[str, int], ...] = ()
    platform: str = "tensorflow"
    policy: str = field(default="specific")  # "specific" | "latest" | "all" (parsing only)
    latest_count: int = 1

    @staticmethod
    def make(
        name: str, base_path: str, versions: Iterable[int], labels: Mapping[str, int] | None = None
    ) -> ModelEntry:
        """Validated constructor: names, versions and labels checked, all sorted."""
        validate_model_name(name)
        vs = tuple(sorted({parse_version(v) for v in versions}))
        ls = tuple(sorted((validate_label(k), parse_version(v)) for k, v in (labels or {}).items()))
        for label, version in ls:
            if version not in vs:
                raise ConfigError(f"label {label!r} of {name} points to unserved version {version}")
        return ModelEntry(name=name, base_path=str(base_path), versions=vs, labels=ls)

    @property
    def label_map(self) -> dict[str, int]:
        return dict(self.labels)


def _quote(text: str) -> str:
    return '"' + text_format.text_encoding.CEscape(text, as_utf8=True) + '"'


def render_config(entries: Iterable[ModelEntry]) -> str:
    """Render the models.config text; byte-stable for equal input in any order."""
    lines = ["model_config_list {"]
    seen: set[str] = set()
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name in seen:
            raise ConfigError(f"model {entry.name} listed twice")
        seen.add(entry.name)
        lines += [
            "  config {",
            f"    name: {_quote(entry.name)}",
            f"    base_path: {_quote(entry.base_path)}",
            f"    model_platform: {_quote(entry.platform)}",
            "    model_version_policy {",
            "      specific {",
            *(f"        versions: {v}" for v in sorted(entry.versions)),
            "      }",
            "    }",
        ]
        for label, version in sorted(entry.labels):
            lines += [
                "    version_labels {",
                f"      key: {_quote(label)}",
                f"      value: {version}",
                "    }",
            ]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_proto(entries: Iterable[ModelEntry]) -> serving_pb2.ModelServerConfig:
    """The same config as a message (what HandleReloadConfigRequest carries)."""
    return text_format.Parse(render_config(entries), serving_pb2.ModelServerConfig())


def parse_config(text: str) -> list[ModelEntry]:
    """Parse models.config text (any TF Serving policy) into entries; raises ConfigError."""
    try:
        message = text_format.Parse(text, serving_pb2.ModelServerConfig())
    except text_format.ParseError as exc:
        raise ConfigError(f"models.config does not parse: {exc}") from None
    return entries_from_proto(message)


def entries_from_proto(message: serving_pb2.ModelServerConfig) -> list[ModelEntry]:
    """Entries of a ModelServerConfig, with TF Serving's validation of the list."""
    result: list[ModelEntry] = []
    seen: set[str] = set()
    for cfg in message.model_config_list.config:
        if not cfg.name:
            raise ConfigError("a model config has no name")
        if cfg.name in seen:
            raise ConfigError(f"Illegal to list model {cfg.name} multiple times in config list")
        seen.add(cfg.name)
        if not cfg.base_path:
            raise ConfigError(f"model {cfg.name} has no base_path")
        platform = cfg.model_platform or ("tensorflow" if cfg.model_type == 1 else "")
        if cfg.model_platform and cfg.model_type:
            raise ConfigError(
                "Illegal setting both ModelServerConfig::model_type (deprecated) "
                "and ModelServerConfig::model_platform."
            )
        if not platform:
            raise ConfigError(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) "
                "nor ModelServerConfig::model_platform."
            )
        choice = cfg.model_version_policy.WhichOneof("policy_choice") or "latest"
        policy = cfg.model_version_policy
        versions = tuple(sorted(set(policy.specific.versions))) if choice == "specific" else ()
        latest = (policy.latest.num_versions or 1) if choice == "latest" else 1
        result.append(
            ModelEntry(
                name=cfg.name,
                base_path=cfg.base_path,
                versions=versions,
                labels=tuple(sorted(cfg.version_labels.items())),
                platform=platform,
                policy=choice,
                latest_count=latest,
            )
        )
    return result
