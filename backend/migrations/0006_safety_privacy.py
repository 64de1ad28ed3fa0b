"""Safety and privacy (DESIGN §11): emergencies, sensitivity levels, retention, data rights.

* category: ``sensitivity`` (public / internal / sensitive), ``retention_days`` (empty = the
  default for its level) and ``emergency_number`` ("emergency: direct to 110");
* event: ``sensitivity`` (copied from the category when filed, raised by the emergency
  recogniser, never lowered), ``emergency`` (the numbers the reporter was told to call),
  ``holder_path`` (the holding unit's area path: the holder's chain is a prefix test) and
  ``anonymised_at`` (retention or the reporter's request removed personal data);
* resident: ``erase_requested_at`` (删除我的信息: open reports are anonymised once closed);
* api_key: ``scopes`` (read_public / read_full / write) and ``last_used_at``.

Existing rows are brought along: the default catalogue's sensitive branches are marked,
every event takes its category's level, and ``holder_path`` is filled from the holder.
"""
from peewee import CharField, DateTimeField, IntegerField

from backend.models.base import JSONField

# The default catalogue's levels (backend/taxonomy.py), most specific last.
LEVELS_BY_PREFIX = (("01", "sensitive"), ("02", "sensitive"), ("09", "internal"), ("0904", "sensitive"),
                    ("10", "sensitive"), ("11", "sensitive"))


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("category", "sensitivity", CharField(max_length=16, default="public")),
        migrator.add_column("category", "retention_days", IntegerField(null=True)),
        migrator.add_column("category", "emergency_number", CharField(max_length=16, null=True)),
        migrator.add_column("event", "sensitivity", CharField(max_length=16, default="public", index=True)),
        migrator.add_column("event", "emergency", CharField(max_length=16, null=True)),
        migrator.add_column("event", "holder_path", CharField(max_length=255, null=True, index=True)),
        migrator.add_column("event", "anonymised_at", DateTimeField(null=True, index=True)),
        migrator.add_column("resident", "erase_requested_at", DateTimeField(null=True)),
        migrator.add_column("api_key", "scopes", JSONField(default=lambda: ["read_public", "write"])),
        migrator.add_column("api_key", "last_used_at", DateTimeField(null=True)),
    )
    for prefix, level in LEVELS_BY_PREFIX:
        db.execute_sql(f"UPDATE category SET sensitivity = {db.param} WHERE code LIKE {db.param}",
                       (level, prefix + "%"))
    db.execute_sql("UPDATE event SET sensitivity = (SELECT c.sensitivity FROM category c "
                   "WHERE c.id = event.category_id) WHERE category_id IS NOT NULL")
    db.execute_sql("UPDATE event SET holder_path = (SELECT a.path FROM area a WHERE a.id = event.holder_area_id) "
                   "WHERE holder_area_id IS NOT NULL")


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column("category", "sensitivity"),
        migrator.drop_column("category", "retention_days"),
        migrator.drop_column("category", "emergency_number"),
        migrator.drop_column("event", "sensitivity"),
        migrator.drop_column("event", "emergency"),
        migrator.drop_column("event", "holder_path"),
        migrator.drop_column("event", "anonymised_at"),
        migrator.drop_column("resident", "erase_requested_at"),
        migrator.drop_column("api_key", "scopes"),
        migrator.drop_column("api_key", "last_used_at"),
    )
