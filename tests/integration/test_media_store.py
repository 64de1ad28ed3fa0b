"""The two media stores behind one interface (backend/media_store.py): the local directory and
an S3 bucket on a real S3 endpoint (moto in server mode, tests/s3_server.py) through the real
boto3 client. Idempotent puts, streamed reads of multi-MB objects, exists/size/delete, and an
unreachable store that says so quickly."""
from __future__ import annotations

import hashlib
import io
import os
import time

import pytest

from backend import config
from backend.media_store import (
    CHUNK,
    LocalStore,
    MediaMissing,
    MediaUnavailable,
    S3Store,
    from_settings,
    object_name,
    parse_s3_url,
)
from tests.s3_server import ACCESS_KEY, REGION, SECRET_KEY, PrivateS3, closed_port_settings


@pytest.fixture(scope="module")
def s3_server():
    server = PrivateS3().start()
    yield server
    server.stop()


def s3_store(server: PrivateS3, prefix: str) -> S3Store:
    return S3Store(f"s3://{server.bucket}/{prefix}", endpoint_url=server.endpoint, region=REGION,
                   access_key=ACCESS_KEY, secret_key=SECRET_KEY)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "media")
    server = request.getfixturevalue("s3_server")
    return s3_store(server, f"t-{request.node.name}".replace("[", "-").replace("]", ""))


def blob(size: int, seed: bytes = b"x") -> tuple[str, bytes]:
    data = (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size]
    return hashlib.sha256(data).hexdigest(), data


def test_put_is_idempotent_and_the_object_reads_back(store):
    sha, data = blob(1000)
    assert not store.exists(sha) and store.size(sha) is None
    assert store.put(sha, data, "image/jpeg") is True
    assert store.put(sha, data, "image/jpeg") is False  # already there: not written again
    assert store.exists(sha) and store.size(sha) == 1000
    assert store.open(sha).read_all() == data


def test_a_multi_megabyte_object_is_written_from_a_file_and_read_in_chunks(store, tmp_path):
    """12 MB: above boto3's multipart threshold on the way in; on the way out never one piece."""
    sha, data = blob(12 * 1024 * 1024 + 17, b"video")
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    with open(source, "rb") as handle:
        assert store.put(sha, handle, "video/mp4") is True
    stream = store.open(sha)
    assert stream.size == len(data)
    digest, sizes = hashlib.sha256(), []
    for chunk in stream:
        assert len(chunk) <= CHUNK
        sizes.append(len(chunk))
        digest.update(chunk)
    assert digest.hexdigest() == sha and sum(sizes) == len(data)
    assert len(sizes) >= len(data) // CHUNK  # streamed, a chunk at a time


def test_delete_removes_the_object_and_a_missing_one_is_no_error(store):
    sha, data = blob(64, b"del")
    store.put(sha, data, "image/png")
    store.delete(sha)
    assert not store.exists(sha)
    store.delete(sha)  # again: nothing there, nothing to do
    with pytest.raises(MediaMissing):
        store.open(sha)


def test_objects_keep_the_local_layout_under_the_prefix(s3_server):
    store = s3_store(s3_server, "layout/media")
    sha, data = blob(10, b"layout")
    store.put(sha, data, "image/jpeg")
    assert f"layout/media/{object_name(sha)}" in s3_server.keys()
    assert object_name(sha) == f"{sha[:2]}/{sha[2:4]}/{sha}"
    assert s3_server.client().head_object(Bucket=s3_server.bucket, Key=store.key(sha))["ContentType"] == "image/jpeg"


def test_local_walk_lists_only_stored_objects(tmp_path):
    store = LocalStore(tmp_path)
    shas = sorted(store.put(sha, data, "x") and sha for sha, data in (blob(5, b"a"), blob(6, b"b")))
    (tmp_path / "ab").mkdir(exist_ok=True)
    (tmp_path / "ab" / "notes.txt").write_text("x")
    first = store.path(shas[0])
    (first.parent / f".{first.name}.tmp123").write_bytes(b"half")  # a write that never finished
    assert list(store.walk()) == shas


def test_an_unreachable_store_fails_fast_with_media_unavailable(settings):
    store = from_settings(closed_port_settings(settings))
    sha, data = blob(10, b"down")
    started = time.monotonic()
    for call in (lambda: store.put(sha, data, "image/jpeg"), lambda: store.open(sha),
                 lambda: store.exists(sha), lambda: store.delete(sha),
                 lambda: store.put(sha, io.BytesIO(data), "image/jpeg")):
        with pytest.raises(MediaUnavailable):
            call()
    assert time.monotonic() - started < 10


def test_a_missing_bucket_or_wrong_keys_are_unavailable_not_missing(s3_server):
    wrong = S3Store("s3://no-such-bucket-here/m", endpoint_url=s3_server.endpoint, region=REGION,
                    access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    sha, data = blob(10, b"nobucket")
    with pytest.raises(MediaUnavailable):
        wrong.put(sha, data, "image/jpeg")


def test_media_store_settings_are_checked():
    assert parse_s3_url("s3://ejia-media/prod/media").prefix == "prod/media/"
    assert parse_s3_url("s3://ejia-media").prefix == ""
    base = {"EJIA_ENV": "test"}
    loaded = config.load_settings(environ={**base, "MEDIA_STORE": "s3://ejia-media/media",
                                           "S3_ENDPOINT_URL": "https://cos.ap-guangzhou.myqcloud.com",
                                           "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"})
    assert loaded.media_store == "s3://ejia-media/media" and config.describe(loaded)["aws_secret_access_key"] == "***"
    assert config.load_settings(environ={**base, "MEDIA_STORE": "local"}).media_store == ""
    for environ, named in (({"MEDIA_STORE": "ftp://host/x"}, "MEDIA_STORE"),
                           ({"MEDIA_STORE": "s3://A_Bucket/x"}, "MEDIA_STORE"),
                           ({"MEDIA_STORE": "s3://ejia-media/x", "AWS_ACCESS_KEY_ID": "id"}, "AWS_SECRET_ACCESS_KEY"),
                           ({"MEDIA_STORE": "s3://ejia-media/x", "S3_ENDPOINT_URL": "cos.example.com"}, "S3_ENDPOINT_URL"),
                           ({"MEDIA_STORE": "s3://ejia-media/x", "S3_ADDRESSING_STYLE": "dns"}, "S3_ADDRESSING_STYLE")):
        with pytest.raises(config.ConfigError, match=named):
            config.load_settings(environ={**base, **environ})


def test_the_store_is_chosen_by_the_settings(settings, s3_server, tmp_path):
    assert isinstance(from_settings(settings), LocalStore)
    on_s3 = from_settings(s3_server.settings_for(settings))
    assert isinstance(on_s3, S3Store) and on_s3 is from_settings(s3_server.settings_for(settings))  # one client
    assert os.fspath(from_settings(settings.with_overrides(media_dir=tmp_path)).root) == os.fspath(tmp_path)


def test_check_says_whether_the_object_store_answers(settings, s3_server):
    from ops.check import _guard, media_store_ready

    good = _guard("媒体存储", media_store_ready, s3_server.settings_for(settings))
    assert good.ok and s3_server.bucket in good.detail
    assert not [k for k in s3_server.keys() if ".check-" in k]  # the probe object is removed
    down = _guard("媒体存储", media_store_ready, closed_port_settings(settings))
    assert not down.ok and "MediaUnavailable" in down.detail
