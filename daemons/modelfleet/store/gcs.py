"""A model bucket on Google Cloud Storage (or the emulator).

Credentials: with ``STORAGE_EMULATOR_HOST`` set, anonymous; otherwise the ADC file
``$CLOUDSDK_CONFIG/application_default_credentials.json`` when it exists (the RUNBOOK
mounts it), else google-auth's default chain (metadata server on GCE).

Generation preconditions are GCS's own (``if_generation_match``): this is what lets the
master and the CLI edit desired.json concurrently without losing an update. Downloads run
on the shared engine (:mod:`.transfer`): many files at once and large objects in ranged
slices, each pinned to the generation seen in the listing, so one version arrives at the
speed of the link rather than of one TCP stream, and a cancelled pull stops within one
network chunk.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .base import FetchItem, NotFound, ObjectInfo, PreconditionFailed, RequestCounter, StoreError
from .transfer import RangeSink, Unit, plan_units, run_fetch

__all__ = ["GCSStore", "make_client", "parse_gs_url"]

_READ = 1 << 20  # bytes per read of a download stream: how soon a cancel is seen
_RETRYABLE = (408, 429, 500, 502, 503, 504)


def urllib3_errors() -> tuple[type[BaseException], ...]:
    """Errors of a stream that broke mid-body (raised by urllib3, not wrapped by requests)."""
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    return (ProtocolError, ReadTimeoutError)


def parse_gs_url(url: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` → ``("bucket", "a/b")``; raises StoreError on anything else."""
    if not url.startswith("gs://"):
        raise StoreError(f"{url!r} is not a gs:// URL")
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.strip("/")
    if not bucket or any(p in ("", ".", "..") for p in prefix.split("/") if prefix):
        raise StoreError(f"{url!r} is not a valid gs://bucket[/prefix] URL")
    return bucket, prefix


def make_client(cloudsdk_config: str | None = None) -> Any:
    """A storage client for the emulator, an ADC file, or the default credential chain."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="modelfleet", credentials=AnonymousCredentials())
    config_dir = cloudsdk_config or os.environ.get("CLOUDSDK_CONFIG")
    if config_dir:
        adc = Path(config_dir) / "application_default_credentials.json"
        if adc.is_file():
            import google.auth

            creds, project = google.auth.load_credentials_from_file(
                str(adc), scopes=["https://www.googleapis.com/auth/devstorage.read_write"]
            )
            return storage.Client(project=project or "modelfleet", credentials=creds)
    return storage.Client()


class GCSStore:
    """:class:`~modelfleet.store.RemoteStore` over ``gs://bucket[/prefix]``."""

    def __init__(
        self,
        url: str,
        *,
        client: Any = None,
        cloudsdk_config: str | None = None,
        on_request: RequestCounter | None = None,
        timeout: float = 30.0,
        retry_deadline: float = 30.0,
    ) -> None:
        """``timeout`` bounds each HTTP request, ``retry_deadline`` all retries of one call:
        with google-cloud-storage's defaults (60 s, 120 s) one call against a sick bucket can
        hold the sync loop for minutes, long after the bucket is back."""
        self.bucket_name, self.prefix = parse_gs_url(url)
        self.url = f"gs://{self.bucket_name}" + (f"/{self.prefix}" if self.prefix else "")
        self._client = client
        self._cloudsdk_config = cloudsdk_config
        self._count = on_request or (lambda _op, _n: None)
        self._bucket: Any = None
        self._timeout = timeout
        self._retry_deadline = retry_deadline
        self._pool_size = 0

    @functools.cached_property
    def _opts(self) -> dict[str, Any]:
        """``timeout`` and ``retry`` for every API call."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        return {"timeout": self._timeout, "retry": DEFAULT_RETRY.with_timeout(self._retry_deadline)}

    def __repr__(self) -> str:
        return f"GCSStore({self.url!r})"

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            if self._client is None:
                self._client = make_client(self._cloudsdk_config)
            self._bucket = self._client.bucket(self.bucket_name)
        return self._bucket

    def _name(self, key: str) -> str:
        key = key.strip("/")
        if any(p in ("", ".", "..") for p in key.split("/")) and key:
            raise StoreError(f"invalid key {key!r}")
        return f"{self.prefix}/{key}" if self.prefix and key else (self.prefix or key)

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def _info(self, blob: Any) -> ObjectInfo:
        return ObjectInfo(
            self._key(blob.name), int(blob.size or 0), blob.crc32c, int(blob.generation or 0)
        )

    def stat(self, key: str) -> ObjectInfo | None:
        self._count("stat", 1)
        blob = self._call(lambda: self.bucket.get_blob(self._name(key), **self._opts))
        return None if blob is None else self._info(blob)

    def read(self, key: str) -> tuple[bytes, int]:
        info = self.stat(key)
        if info is None:
            raise NotFound(f"{self.url}/{key} does not exist")
        self._count("read", 1)
        # Pinned to the generation just seen, so content and generation always agree.
        blob = self.bucket.blob(self._name(key), generation=info.generation or None)
        data = self._call(lambda: blob.download_as_bytes(**self._opts))
        return data, info.generation

    def write(self, key: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        self._count("write", 1)
        blob = self.bucket.blob(self._name(key))
        kwargs: dict[str, Any] = {
            "content_type": "application/json" if key.endswith(".json") else None,
            "timeout": self._timeout,
        }
        if if_generation_match is not None:
            kwargs["if_generation_match"] = if_generation_match
        self._call(lambda: blob.upload_from_string(data, **kwargs))
        return int(blob.generation or 0)

    def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        name = self._name(prefix.strip("/")) if prefix.strip("/") else self.prefix
        full = f"{name}/" if name else ""
        self._count("list", 1)
        blobs = self._call(
            lambda: list(self.bucket.client.list_blobs(self.bucket, prefix=full, **self._opts))
        )
        return sorted(
            (self._info(b) for b in blobs if not b.name.endswith("/")), key=lambda o: o.key
        )

    def list_dirs(self, prefix: str = "") -> list[str]:
        name = self._name(prefix.strip("/")) if prefix.strip("/") else self.prefix
        full = f"{name}/" if name else ""
        self._count("list", 1)

        def run() -> set[str]:
            it = self.bucket.client.list_blobs(
                self.bucket, prefix=full, delimiter="/", **self._opts
            )
            for _ in it:
                pass
            return set(it.prefixes)

        prefixes = self._call(run)
        return sorted(p[len(full) :].rstrip("/") for p in prefixes)

    def delete(self, key: str) -> None:
        from google.api_core import exceptions as gexc

        self._count("delete", 1)
        try:
            self.bucket.blob(self._name(key)).delete(**self._opts)
        except gexc.NotFound:
            pass
        except gexc.GoogleAPICallError as exc:
            raise StoreError(f"{self.url}/{key}: {exc}") from exc

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Map google-api-core errors to the store's own."""
        from google.api_core import exceptions as gexc

        try:
            return fn()
        except gexc.PreconditionFailed as exc:
            raise PreconditionFailed(f"{self.url}: generation precondition failed") from exc
        except gexc.NotFound as exc:
            raise NotFound(f"{self.url}: {exc.message}") from exc
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise StoreError(f"{self.url}: {exc}") from exc
        except OSError as exc:  # requests' ConnectionError is an OSError
            raise StoreError(f"{self.url}: {type(exc).__name__}: {exc}") from exc

    def upload_files(
        self,
        pairs: Sequence[tuple[Path, str]],
        *,
        workers: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        def one(pair: tuple[Path, str]) -> None:
            src, key = pair
            self._call(lambda: self.bucket.blob(self._name(key)).upload_from_filename(str(src)))
            if progress:
                progress(src.stat().st_size)

        self._count("upload", len(pairs))
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(one, pairs))

    def _widen_pool(self, size: int) -> None:
        """One kept-alive connection per worker (requests keeps 10 by default, and a
        discarded connection costs a new TCP and TLS handshake per request)."""
        if size <= self._pool_size:
            return
        from requests.adapters import HTTPAdapter

        session = self.bucket.client._http
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._pool_size = size

    def fetch(
        self,
        items: Sequence[FetchItem],
        *,
        workers: int = 8,
        slice_bytes: int = 32 << 20,
        progress: Callable[[int], None] | None = None,
        on_item: Callable[[FetchItem], None] | None = None,
        cancel: threading.Event | None = None,
        on_range: Callable[[FetchItem, int, int, int | None], None] | None = None,
    ) -> None:
        self._widen_pool(max(16, workers * 2))
        self._count("download", len(plan_units(items, slice_bytes, workers)))
        run_fetch(
            items,
            self._fetch_range,
            workers=workers,
            slice_bytes=slice_bytes,
            progress=progress,
            on_item=on_item,
            cancel=cancel,
            on_range=on_range,
        )

    def _media_url(self, key: str, generation: int) -> str:
        client = self.bucket.client
        url = (
            f"{client.api_endpoint.rstrip('/')}/download/storage/v1/b/"
            f"{quote(self.bucket_name, safe='')}/o/{quote(self._name(key), safe='')}?alt=media"
        )
        return f"{url}&generation={generation}" if generation else url

    def _fetch_range(self, unit: Unit, sink: RangeSink) -> None:
        """One ranged GET streamed into ``sink`` in 1 MiB reads; a dropped connection or a
        retryable status resumes from the last byte written, within ``retry_deadline``."""
        import requests

        session = self.bucket.client._http
        broken: tuple[type[BaseException], ...] = (
            requests.ConnectionError,
            requests.Timeout,
            *urllib3_errors(),
        )
        url = self._media_url(unit.item.key, unit.item.generation)
        what = f"{self.url}/{unit.item.key}"
        deadline = time.monotonic() + self._retry_deadline
        delay = 0.1
        while True:
            sink.check()
            # Raw bytes as stored (no transcoding): what the manifest's crc32c describes.
            headers = {"Accept-Encoding": "gzip"}
            if not (unit.whole and sink.offset == 0):
                headers["Range"] = f"bytes={sink.offset}-{unit.end - 1}"
            try:
                with session.get(url, headers=headers, stream=True, timeout=self._timeout) as resp:
                    if resp.status_code == 404:
                        raise NotFound(f"{what} does not exist")
                    if resp.status_code not in _RETRYABLE and resp.status_code not in (200, 206):
                        raise StoreError(f"{what}: HTTP {resp.status_code} {resp.text[:200]}")
                    if resp.status_code in (200, 206):
                        for chunk in resp.raw.stream(_READ, decode_content=False):
                            if sink.offset + len(chunk) > unit.end:
                                raise StoreError(f"{what} is longer than {unit.end} bytes")
                            sink.write(chunk)
                        if sink.offset == unit.end:
                            return
                    problem = f"HTTP {resp.status_code}, {sink.offset - unit.start} bytes in"
            except broken as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + delay > deadline:
                raise StoreError(f"{what}: gave up after retries ({problem})")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
