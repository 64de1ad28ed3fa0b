"""Go live (issue 16): API keys stored hashed, one-time passwords.

* api_key: ``key`` (the key itself, in plain text) becomes ``key_hash`` (its SHA-256) and
  ``prefix`` (its first characters, for recognising it in lists); keys already issued keep
  working, since their hash is computed here from the stored text, which is then dropped.
  New: ``rate_limit`` (requests per minute), ``revoked_at``, ``expires_at`` (a rotated key's
  overlap) and ``replaced_by``. ``scopes`` and ``last_used_at`` (0006) stay as they are.
* staff: ``password_change_required`` — set for a one-time password, cleared when it is changed.
"""
import hashlib

from peewee import BooleanField, CharField, DateTimeField, IntegerField

PREFIX_LENGTH = 8


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("api_key", "key_hash", CharField(max_length=64, null=True)),
        migrator.add_column("api_key", "prefix", CharField(max_length=16, default="")),
        migrator.add_column("api_key", "rate_limit", IntegerField(default=60)),
        migrator.add_column("api_key", "revoked_at", DateTimeField(null=True)),
        migrator.add_column("api_key", "expires_at", DateTimeField(null=True)),
        migrator.add_column("api_key", "replaced_by", IntegerField(null=True)),
        migrator.add_column("staff", "password_change_required", BooleanField(default=False)),
    )
    for key_id, key in db.execute_sql("SELECT id, key FROM api_key").fetchall():
        db.execute_sql(f"UPDATE api_key SET key_hash = {db.param}, prefix = {db.param} WHERE id = {db.param}",
                       (hashlib.sha256(key.encode()).hexdigest(), key[:PREFIX_LENGTH], key_id))
    for index in db.get_indexes("api_key"):  # its name differs between databases made by 0001
        if index.columns == ["key"]:
            migrator.migrate(migrator.drop_index("api_key", index.name))
    migrator.migrate(
        migrator.drop_column("api_key", "key"),
        migrator.add_not_null("api_key", "key_hash"),
        migrator.add_index("api_key", ("key_hash",), True),
    )


def down(migrator, db):
    """The keys themselves are gone: every key must be issued again after a downgrade."""
    migrator.migrate(
        migrator.add_column("api_key", "key", CharField(max_length=64, null=True)),
    )
    db.execute_sql("UPDATE api_key SET key = key_hash, active = " + ("false" if db.param == "%s" else "0"))
    migrator.migrate(
        migrator.drop_column("api_key", "key_hash"),
        migrator.drop_column("api_key", "prefix"),
        migrator.drop_column("api_key", "rate_limit"),
        migrator.drop_column("api_key", "revoked_at"),
        migrator.drop_column("api_key", "expires_at"),
        migrator.drop_column("api_key", "replaced_by"),
        migrator.drop_column("staff", "password_change_required"),
        migrator.add_not_null("api_key", "key"),
        migrator.add_index("api_key", ("key",), True),
    )
