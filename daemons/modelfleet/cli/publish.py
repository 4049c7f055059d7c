"""``modelfleet publish``: upload a SavedModel as a new version, or adopt an uploaded one."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from .common import die
from .params import MODEL, VERSION

__all__ = ["register"]


def register(cli: click.Group) -> None:
    """Add ``modelfleet publish`` to the ``modelfleet`` group."""

    @cli.command("publish")
    @click.argument(
        "path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
    )
    @click.option("--model", type=MODEL, help="Model name (the bucket's top-level directory).")
    @click.option("--version", "version", type=VERSION, help="Version number (default: next).")
    @click.option(
        "--remote",
        default=lambda: os.environ.get("REMOTE_MODEL_DIRECTORY", ""),
        show_default="$REMOTE_MODEL_DIRECTORY",
        help="gs://bucket[/prefix] or an absolute local path.",
    )
    @click.option(
        "--adopt",
        "adopt_url",
        metavar="URL",
        help="Write the manifest of <remote>/<model>/<version> uploaded by other tools.",
    )
    @click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True)
    @click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
    def publish(
        path: Path | None,
        model: str | None,
        version: int | None,
        remote: str,
        adopt_url: str | None,
        workers: int,
        quiet: bool,
    ) -> None:
        """Upload PATH (a SavedModel directory) as a new version of --model, manifest last.

        With --adopt gs://bucket/prefix/MODEL/VERSION, write the manifest of a version that
        was uploaded by other tools (sizes and crc32c from object metadata) instead.
        """
        from ..names import InvalidName
        from ..store import StoreError, adopt, open_store, split_version_url
        from ..store import publish as publish_version

        cloudsdk = os.environ.get("CLOUDSDK_CONFIG") or None
        try:
            if adopt_url:
                if path is not None or model or version:
                    die("--adopt takes only the version URL (no PATH, --model or --version)")
                root, name, number = split_version_url(adopt_url)
                store = open_store(root, cloudsdk_config=cloudsdk)
                manifest = adopt(store, name, number)
                click.echo(
                    f"adopted {store.url}/{name}/{number}: "
                    f"{len(manifest.files)} files, {manifest.total_bytes} bytes"
                )
                return
            if path is None or not model:
                die("give PATH and --model (or --adopt URL)")
            if not remote:
                die("REMOTE_MODEL_DIRECTORY is not set (or pass --remote)")
            number_opt = version
            store = open_store(remote, cloudsdk_config=cloudsdk)
            bar: Any = None

            def on_manifest(m: Any) -> None:
                nonlocal bar
                if not quiet:
                    bar = click.progressbar(
                        length=m.total_bytes, label=f"{m.model}/{m.version}", file=sys.stderr
                    )
                    bar.__enter__()

            try:
                manifest = publish_version(
                    store,
                    path,
                    model,
                    number_opt,
                    workers=workers,
                    on_manifest=on_manifest,
                    progress=(lambda n: bar.update(n)) if not quiet else None,
                )
            finally:
                if bar is not None:
                    bar.__exit__(None, None, None)
            click.echo(
                f"published {store.url}/{manifest.model}/{manifest.version}: "
                f"{len(manifest.files)} files, {manifest.total_bytes} bytes"
            )
        except InvalidName as exc:
            die(str(exc))
        except StoreError as exc:
            die(str(exc), code=1)
        except OSError as exc:  # a local bucket or source the user cannot read or write
            where = f" ({exc.filename})" if exc.filename else ""
            die(f"{exc.strerror or exc}{where}", code=1)
