"""/wechat remembers every accepted (timestamp, nonce) pair; chat drafts and mini-program upload
receipts live in the database, not only in Redis (issue 13).

``inbound_message.callback_timestamp/callback_nonce``: a signed callback URL (timestamp,
nonce, signature) is valid for the whole timestamp window, and in plaintext mode the
signature does not cover the body — so a URL taken from an access log could carry a forged
body. Each accepted push keeps its callback's pair, unique, written by the same insert; a
second push under it is refused (issue 13, DESIGN §10). Rows stored before have none (NULLs
never collide).

``dialog_draft``: the chat's state between messages (the open flow, its draft: text, place,
photo media ids, the step), the latest position report and a short per-person lease. It lived
only in Redis, so a Redis restart without persistence lost every unfinished report.

``media_upload``: who uploaded which media file through the mini-program (a day's receipts,
checked when a report attaches photos). In Redis, a report with photos failed while Redis
was away.
"""
from peewee import *


def up(migrator, db):
    class DialogDraft(Model):
        openid = CharField(max_length=64, unique=True)
        flow = CharField(max_length=16, null=True)
        state = TextField(null=True)
        expires_at = DoubleField(null=True)
        lat = DoubleField(null=True)
        lng = DoubleField(null=True)
        located_at = DoubleField(null=True)
        lease = CharField(max_length=32, null=True)
        leased_until = DoubleField(null=True)
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "dialog_draft"

    class Media(Model):
        class Meta:
            database = db
            table_name = "media"

    class MediaUpload(Model):
        uploader = CharField(max_length=40)
        media = ForeignKeyField(Media, on_delete="CASCADE")
        created_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "media_upload"
            indexes = ((("uploader", "media"), True),)

    db.create_tables([DialogDraft, MediaUpload])
    migrator.migrate(
        migrator.add_column("inbound_message", "callback_timestamp", BigIntegerField(null=True)),
        migrator.add_column("inbound_message", "callback_nonce", CharField(max_length=64, null=True)),
        migrator.add_index("inbound_message", ("callback_timestamp", "callback_nonce"), True),
    )


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "media_upload"')
    db.execute_sql('DROP TABLE IF EXISTS "dialog_draft"')
    migrator.migrate(
        migrator.drop_index("inbound_message", "inbound_message_callback_timestamp_callback_nonce"),
        migrator.drop_column("inbound_message", "callback_nonce"),
        migrator.drop_column("inbound_message", "callback_timestamp"),
    )
