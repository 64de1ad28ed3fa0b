"""``python -m server media migrate``: a local media store copied into object storage (a real
S3 endpoint: moto in server mode) by the real command — resumable (a second run copies
nothing; a run interrupted midway is finished by the next), with progress on stderr and a
verification pass that reads every object back and compares its sha256."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.media_migrate import copy_store
from backend.media_store import LocalStore, from_settings, object_name
from backend.models import Media
from tests.fixtures_web import settings_environ
from tests.s3_server import PrivateS3

ROOT = Path(__file__).resolve().parents[2]
FILES = 24


@pytest.fixture(scope="module")
def s3():
    server = PrivateS3(bucket="ejia-migrate-test").start()
    yield server
    server.stop()


@pytest.fixture
def local_store(tmp_path, s3):
    """A local store of FILES objects (each with its Media row), and an empty bucket prefix."""
    store = LocalStore(tmp_path / "media")
    shas = []
    for i in range(FILES):
        data = os.urandom(50_000 + i * 1000)
        sha = hashlib.sha256(data).hexdigest()
        store.put(sha, data, "image/jpeg")
        Media.create(sha256=sha, mime="image/jpeg", size=len(data), kind="image")
        shas.append(sha)
    return store, sorted(shas)


def migrate(settings, s3, store, prefix, *args):
    env = {**os.environ, **settings_environ(settings), **s3.environ(prefix), "MEDIA_DIR": str(store.root),
           "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "server", "media", "migrate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def keys(s3, prefix):
    return sorted(k.rsplit("/", 1)[1] for k in s3.keys() if k.startswith(prefix + "/"))


def test_migrate_copies_everything_verifies_and_a_second_run_copies_nothing(settings, s3, local_store):
    store, shas = local_store
    first = migrate(settings, s3, store, "full")
    assert first.returncode == 0, first.stderr
    assert f"共 {FILES} 个文件，本次复制 {FILES} 个" in first.stdout and "跳过 0 个" in first.stdout
    assert f"✓ 校验通过：{FILES} 个文件的 sha256 全部一致" in first.stdout
    assert f"复制: {FILES}/{FILES} (100%)" in first.stderr and f"校验: {FILES}/{FILES} (100%)" in first.stderr
    assert keys(s3, "full") == shas
    sample = shas[3]
    assert hashlib.sha256(s3.get(f"full/{object_name(sample)}")).hexdigest() == sample

    second = migrate(settings, s3, store, "full")
    assert second.returncode == 0, second.stderr
    assert "本次复制 0 个" in second.stdout and f"已在对象存储中跳过 {FILES} 个" in second.stdout


def test_an_interrupted_migration_is_finished_by_running_it_again(settings, s3, local_store):
    store, shas = local_store
    target = from_settings(s3.settings_for(settings, prefix="resume"))

    def stop_after_ten(done, total):
        if done == 10:
            raise KeyboardInterrupt  # Ctrl-C (or a lost connection) in the middle of the run

    with pytest.raises(KeyboardInterrupt):
        copy_store(store, target, stop_after_ten)
    assert len(keys(s3, "resume")) == 10  # whole objects only: nothing half-written

    resumed = migrate(settings, s3, store, "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"本次复制 {FILES - 10} 个" in resumed.stdout and "已在对象存储中跳过 10 个" in resumed.stdout
    assert keys(s3, "resume") == shas and "✓ 校验通过" in resumed.stdout


def test_verification_finds_a_corrupt_or_missing_object_and_a_row_without_a_file(settings, s3, local_store):
    store, shas = local_store
    assert migrate(settings, s3, store, "verify").returncode == 0
    bad, gone = shas[0], shas[1]
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key=f"verify/{object_name(bad)}", Body=b"not the photo")
    client.delete_object(Bucket=s3.bucket, Key=f"verify/{object_name(gone)}")
    orphan = "f" * 64
    Media.create(sha256=orphan, mime="image/jpeg", size=1, kind="image")

    check = migrate(settings, s3, store, "verify", "--verify-only")
    assert check.returncode == 1
    assert f"✗ 内容与 sha256 不符：{bad}" in check.stdout and f"✗ 对象存储里没有：{gone}" in check.stdout
    assert f"✗ 有记录但两处都没有文件：{orphan}" in check.stdout and "复制完成" not in check.stdout

    Media.delete().where(Media.sha256 == orphan).execute()
    repaired = migrate(settings, s3, store, "verify")  # the copy replaces what is wrong or missing
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "本次复制 2 个" in repaired.stdout and "✓ 校验通过" in repaired.stdout


def test_migrate_refuses_without_an_object_store_or_with_one_that_does_not_answer(settings, s3, local_store, tmp_path):
    store, _ = local_store
    env = {**os.environ, **settings_environ(settings), "MEDIA_DIR": str(store.root), "PYTHONPATH": str(ROOT)}
    plain = subprocess.run([sys.executable, "-m", "server", "media", "migrate"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "MEDIA_STORE 没有设置为 s3://" in plain.stderr
    from tests.private_servers import free_port

    env.update(s3.environ("down"), S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    down = subprocess.run([sys.executable, "-m", "server", "media", "migrate"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 1 and "对象存储连不上" in down.stderr and "Traceback" not in down.stderr
