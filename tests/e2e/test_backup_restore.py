"""Backups are only real once a restore has worked (docs/deploy.md): the demo on a fresh PostgreSQL
database and its media directory → deploy/backup/ejia-backup.sh → the database dropped and the
media deleted → deploy/backup/ejia-restore.sh → the same events, steps, ratings and files."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys

import psycopg2

from tests.cli_support import ROOT, server_env
from tests.e2e.test_golive import fresh_database  # noqa: F401  (fixture)

TABLES = ("area", "staff", "event", "event_step", "attachment", "media", "rating", "revisit", "api_key",
          "outbox_message", "schema_migration")


def fingerprint(url: str, media_dir) -> dict:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        counts = {}
        for table in TABLES:
            cur.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cur.fetchone()[0]
        cur.execute("SELECT md5(string_agg(number || status || coalesce(closed_at::text, '') || reopen_count::text"
                    " || coalesce(holder_level, ''), ',' ORDER BY number)) FROM event")
        events = cur.fetchone()[0]
        cur.execute("SELECT md5(string_agg(action || to_status || created_at::text, ',' ORDER BY id)) FROM event_step")
        steps = cur.fetchone()[0]
    files = {str(p.relative_to(media_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in media_dir.rglob("*") if p.is_file()}
    return {"counts": counts, "events": events, "steps": steps, "files": files}


def test_backup_then_drop_then_restore_gives_back_the_same_events_and_media(fresh_database, settings, tmp_path):
    media = tmp_path / "media"
    env = {**server_env(settings), "DATABASE_URL": fresh_database, "EJIA_VAR": str(tmp_path / "var"),
           "MEDIA_DIR": str(media), "BACKUP_DIR": str(tmp_path / "backups")}
    seeded = subprocess.run([sys.executable, "-m", "server", "seed", "--demo"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    before = fingerprint(fresh_database, media)
    assert before["counts"]["event"] > 400 and before["files"]  # a history, with its photo

    backup = subprocess.run(["bash", str(ROOT / "deploy/backup/ejia-backup.sh")], env=env, capture_output=True,
                            text=True, timeout=300)
    assert backup.returncode == 0, backup.stderr
    directory = backup.stdout.strip().splitlines()[-1]
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [directory.rsplit("/", 1)[1]]

    name = fresh_database.rsplit("/", 1)[1]
    admin = psycopg2.connect(fresh_database.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE "{name}"')
    admin.close()
    shutil.rmtree(media)

    restore = subprocess.run(["bash", str(ROOT / "deploy/backup/ejia-restore.sh"), directory], env=env,
                             capture_output=True, text=True, timeout=300)
    assert restore.returncode == 0, restore.stderr
    assert fingerprint(fresh_database, media) == before
    listed = subprocess.run([sys.executable, "-m", "server", "keys", "list"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0 and "demo-full" in listed.stdout  # the application reads it as before


def test_a_damaged_backup_is_refused_before_anything_is_dropped(fresh_database, settings, tmp_path):
    env = {**server_env(settings), "DATABASE_URL": fresh_database, "EJIA_VAR": str(tmp_path / "var"),
           "MEDIA_DIR": str(tmp_path / "media"), "BACKUP_DIR": str(tmp_path / "backups")}
    assert subprocess.run([sys.executable, "-m", "server", "migrate"], cwd=ROOT, env=env, capture_output=True).returncode == 0
    backup = subprocess.run(["bash", str(ROOT / "deploy/backup/ejia-backup.sh")], env=env, capture_output=True, text=True)
    directory = backup.stdout.strip().splitlines()[-1]
    with open(f"{directory}/ejia.dump", "r+b") as dump:
        dump.seek(200)
        dump.write(b"\x00garbage\x00")
    restore = subprocess.run(["bash", str(ROOT / "deploy/backup/ejia-restore.sh"), directory], env=env,
                             capture_output=True, text=True)
    assert restore.returncode != 0 and "FAILED" in restore.stdout + restore.stderr
    with psycopg2.connect(fresh_database) as conn, conn.cursor() as cur:  # still there, untouched
        cur.execute("SELECT count(*) FROM schema_migration")
        assert cur.fetchone()[0] > 0
