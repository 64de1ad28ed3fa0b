"""Where media bytes live: one small interface, two stores (docs/architecture.md, "Storage").

``MediaStore`` is what every path that reads or writes a photo or voice note uses
(backend.media for writes and reads, backend.services.retention for deletes,
backend.media_migrate for ``python -m server media migrate``). Objects are named by their
sha256 (content-addressed) in the same two-level layout on disk and in a bucket:
``ab/cd/abcd…``.

* ``LocalStore`` — files under ``MEDIA_DIR`` (the default; one host only).
* ``S3Store`` — any S3-compatible object store (Tencent Cloud COS, MinIO, AWS) through
  boto3, selected by ``MEDIA_STORE=s3://<bucket>/<prefix>`` (several hosts share it).

Rules both keep: ``put`` is idempotent (an object that exists is not written again, and a
write is never half-visible: a temporary file renamed into place, or one S3 PUT/multipart
upload that appears whole or not at all); ``open`` streams in chunks (never a whole video in
memory); a missing object is ``MediaMissing``; a store that cannot be reached (refused,
timed out, 5xx) is ``MediaUnavailable`` — the web answers 503, a job is retried.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol
from urllib.parse import urlsplit

CHUNK = 256 * 1024  # what a read yields at a time
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class MediaMissing(LookupError):
    """No object under this sha256 (never stored, or deleted)."""


class MediaUnavailable(Exception):
    """The store did not answer (connection refused, timeout, a 5xx, a refused credential)."""

    status, code = 503, "media_unavailable"  # how an adapter answers (nothing was stored)
    message = "照片和语音暂时存不进去，请稍后再试"


def object_name(sha256: str) -> str:
    """``ab/cd/abcd…``: the layout of the local store since the beginning, kept in buckets."""
    if not SHA256_RE.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class MediaStream:
    """An open object: ``size`` known before the first byte, chunks on iteration, ``close()``."""

    def __init__(self, size: int, chunks: Iterator[bytes], close=None):
        self.size = size
        self._chunks = chunks
        self._close = close

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def close(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            close()

    def read_all(self) -> bytes:
        """For small objects only (a photo for a test or a thumbnail); never a video."""
        return b"".join(self)


class MediaStore(Protocol):
    def put(self, sha256: str, data: bytes | BinaryIO, mime: str) -> bool:
        """Store the object unless it exists; True if it was written now."""

    def open(self, sha256: str) -> MediaStream: ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int | None: ...

    def delete(self, sha256: str) -> None:
        """Remove the object; a missing one is not an error."""

    def describe(self) -> str: ...


# ------------------------------------------------------------------ local disk


class LocalStore:
    """Files under a directory, written to a temporary name and renamed into place."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / object_name(sha256)

    def put(self, sha256: str, data: bytes | BinaryIO, mime: str) -> bool:
        path = self.path(sha256)
        if path.exists():
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            with open(tmp, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                else:
                    for chunk in iter(lambda: data.read(CHUNK), b""):
                        out.write(chunk)
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only disk: the upload cannot be kept now
            raise MediaUnavailable(f"{self.root}: {exc}") from exc
        return True

    def open(self, sha256: str) -> MediaStream:
        try:
            handle = open(self.path(sha256), "rb")
        except FileNotFoundError:
            raise MediaMissing(sha256) from None
        size = os.fstat(handle.fileno()).st_size
        return MediaStream(size, iter(lambda: handle.read(CHUNK), b""), handle.close)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, sha256: str) -> None:
        try:
            self.path(sha256).unlink(missing_ok=True)
        except OSError as exc:
            raise MediaUnavailable(f"{self.root}: {exc}") from exc

    def walk(self) -> Iterator[str]:
        """Every stored sha256 (files named by a digest in the ``ab/cd/`` layout), sorted."""
        if not self.root.is_dir():
            return
        for first in sorted(p for p in self.root.iterdir() if p.is_dir() and len(p.name) == 2):
            for second in sorted(p for p in first.iterdir() if p.is_dir() and len(p.name) == 2):
                for path in sorted(second.iterdir()):
                    name = path.name
                    if SHA256_RE.match(name) and name.startswith(first.name + second.name) and path.is_file():
                        yield name

    def describe(self) -> str:
        return f"local directory {self.root}"


# ------------------------------------------------------------------ S3-compatible


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or "media/" (always ends with a slash when set)


def parse_s3_url(url: str) -> S3Location:
    """``s3://bucket`` or ``s3://bucket/some/prefix``; ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{url!r} is not s3://<bucket>/<prefix>")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{url!r}: only s3://<bucket>/<prefix> (keys go in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
    if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", parts.netloc):
        raise ValueError(f"{parts.netloc!r} is not a bucket name (3–63 lower-case letters, digits, dots, hyphens)")
    prefix = parts.path.strip("/")
    return S3Location(parts.netloc, prefix + "/" if prefix else "")


class S3Store:
    """An S3 bucket (COS, MinIO, AWS). Short timeouts and one retry: an upload request must
    fail fast (503) rather than hang a web worker while the store is away."""

    def __init__(self, url: str, *, endpoint_url: str = "", region: str = "", access_key: str = "",
                 secret_key: str = "", addressing_style: str = "auto", connect_timeout: float = 3,
                 read_timeout: float = 20):
        import boto3
        from botocore.config import Config

        self.url = url
        self.location = parse_s3_url(url)
        self.endpoint_url = endpoint_url or None
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=region or None,
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            config=Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                          retries={"max_attempts": 2, "mode": "standard"},
                          s3={"addressing_style": addressing_style}))

    def key(self, sha256: str) -> str:
        return self.location.prefix + object_name(sha256)

    def _call(self, operation: str, **params):
        """One S3 call; a store that does not answer becomes MediaUnavailable, a missing key
        MediaMissing."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.location.bucket, **params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") in ("404", "NoSuchKey", "NotFound") and "Key" in params:
                raise MediaMissing(params["Key"]) from None
            raise MediaUnavailable(f"{self.describe()}: {operation} answered {status} {error.get('Code')}") from exc
        except BotoCoreError as exc:
            raise MediaUnavailable(f"{self.describe()}: {type(exc).__name__}: {exc}") from exc

    def put(self, sha256: str, data: bytes | BinaryIO, mime: str) -> bool:
        if self.exists(sha256):
            return False
        key = self.key(sha256)
        if isinstance(data, (bytes, bytearray, memoryview)):
            self._call("put_object", Key=key, Body=bytes(data), ContentType=mime)
        else:  # a file: multipart above 8 MB, a part at a time (s3transfer), never all in memory
            from boto3.s3.transfer import TransferConfig
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                self.client.upload_fileobj(data, self.location.bucket, key, ExtraArgs={"ContentType": mime},
                                           Config=TransferConfig(use_threads=False))
            except (BotoCoreError, ClientError) as exc:
                raise MediaUnavailable(f"{self.describe()}: upload of {sha256[:12]} failed: {exc}") from exc
        return True

    def open(self, sha256: str) -> MediaStream:
        answer = self._call("get_object", Key=self.key(sha256))
        body = answer["Body"]
        return MediaStream(int(answer["ContentLength"]), body.iter_chunks(CHUNK), body.close)

    def size(self, sha256: str) -> int | None:
        try:
            return int(self._call("head_object", Key=self.key(sha256))["ContentLength"])
        except MediaMissing:
            return None

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def delete(self, sha256: str) -> None:
        self._call("delete_object", Key=self.key(sha256))  # S3 answers 204 for a missing key too

    def check(self) -> None:
        """The bucket answers and we may write to it: a probe object written and removed."""
        probe = f"{self.location.prefix}.check-{os.getpid()}"
        self._call("put_object", Key=probe, Body=b"ok")
        self._call("delete_object", Key=probe)

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"object store {self.url}{where}"


# ------------------------------------------------------------------ the configured store

_STORES: dict[tuple, MediaStore] = {}


def from_settings(settings) -> MediaStore:
    """The store the settings name (one client per distinct configuration, per process)."""
    if not settings.media_store:
        key: tuple = ("local", str(Path(settings.media_dir).resolve()))
    else:
        key = ("s3", settings.media_store, settings.s3_endpoint_url, settings.s3_region,
               settings.aws_access_key_id, settings.aws_secret_access_key, settings.s3_addressing_style)
    store = _STORES.get(key)
    if store is None:
        if key[0] == "local":
            store = LocalStore(Path(settings.media_dir))
        else:
            store = S3Store(settings.media_store, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
                            access_key=settings.aws_access_key_id, secret_key=settings.aws_secret_access_key,
                            addressing_style=settings.s3_addressing_style)
        _STORES[key] = store
    return store


def sha256_of_stream(stream: MediaStream) -> tuple[str, int]:
    """(hex digest, bytes) of an opened object, read a chunk at a time."""
    digest, size = hashlib.sha256(), 0
    for chunk in stream:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
