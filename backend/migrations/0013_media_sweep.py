"""WeChat media a lost job never fetched (the media sweep, workers/media.py ``sweep``).

A chat photo is fetched by a ``download_media`` job the outbox row's handler enqueues. A Redis
restart or failover can lose that job after the row was stamped processed, and nothing asked
again: the photo waited until WeChat forgot it (3 days). The sweep looks every minute at
attachments of the last 3 days that still have only a WeChat media id; this index on
``attachment.created_at`` keeps that a range scan as the table grows.
"""


def up(migrator, db):
    migrator.migrate(migrator.add_index("attachment", ("created_at",)))


def down(migrator, db):
    migrator.migrate(migrator.drop_index("attachment", "attachment_created_at"))
