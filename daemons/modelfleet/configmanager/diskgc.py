"""Free disk: delete installed versions nobody wants, once TF Serving has let go of them.

Invariant 2 and the ownership rule of docs/contracts.md: only the config manager deletes
version directories, only inside LOCAL (:meth:`LocalModelDir.delete_version`), and only when
TF Serving reports the version END or does not know it (NOT_FOUND). A version is wanted —
never deleted — when the local desired document names it (``versions`` or ``keep``), or
when the target or the config TF Serving was last sent names it. Without a trustworthy
desired document nothing is deleted at all. A version TF Serving reports START (managed,
about to load) is left alone too: TF Serving may still load it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from ..localdir import DesiredModel, LocalModelDir
from ..logsetup import kv
from .observe import Observer
from .serving import ModelServing

__all__ = ["free_disk", "protected_versions"]

log = logging.getLogger(__name__)


def protected_versions(
    desired: Mapping[str, DesiredModel], configs: Iterable[Mapping[str, ModelServing]]
) -> dict[str, set[int]]:
    """Per model, the versions that must stay on disk."""
    protected: dict[str, set[int]] = {}
    for model, want in desired.items():
        protected.setdefault(model, set()).update(want.versions, want.keep)
    for config in configs:
        for model, serving in config.items():
            protected.setdefault(model, set()).update(serving.versions)
            protected[model].update(v for _, v in serving.labels)
    return protected


def free_disk(
    local: LocalModelDir,
    installed: Mapping[str, Sequence[int]],
    protected: Mapping[str, set[int]],
    observer: Observer,
) -> list[tuple[str, int]]:
    """Delete unprotected installed versions TF Serving has unloaded; returns them."""
    freed: list[tuple[str, int]] = []
    for model, versions in sorted(installed.items()):
        for version in versions:
            if version in protected.get(model, set()):
                continue
            states = observer.states(model, version)
            if states is None:
                return freed  # TF Serving cannot tell: keep everything
            if states - {"END"}:
                continue  # START / LOADING / AVAILABLE / UNLOADING: never delete
            if local.delete_version(model, version):
                freed.append((model, version))
                log.info("freed local version", extra=kv(model=model, version=version))
    return freed
