"""Every reporter hears back (issue 14): what the delivery policy needs to know of a resident.

* resident: ``oa_following`` (None: not known; False after an unsubscribe or WeChat's 43004 —
  official-account template messages only reach followers) and ``phone_offered_at`` (the chat
  offers once to keep a phone for revisit calls);
* subscribe_opt_in: one row per (resident, mini-program template): how many one-time opt-ins
  are left (each pays for exactly one subscribe message) and the last answer given in
  ``wx.requestSubscribeMessage`` (accept / reject / ban). It replaces ``resident.subscribe_opt_ins``,
  which stays as an unused column;
* revisit: ``asked_at`` and ``channel`` for a revisit question sent by WeChat.
"""
from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("resident", "oa_following", BooleanField(null=True)),
        migrator.add_column("resident", "phone_offered_at", DateTimeField(null=True)),
        migrator.add_column("revisit", "asked_at", DateTimeField(null=True)),
        migrator.add_column("revisit", "channel", CharField(max_length=16, null=True)),
    )

    class Resident(Model):
        class Meta:
            database = db
            table_name = "resident"

    class SubscribeOptIn(Model):
        resident = ForeignKeyField(Resident, on_delete="CASCADE")
        template_id = CharField(max_length=64)
        remaining = IntegerField(default=0)
        last_answer = CharField(max_length=8, default="accept")
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "subscribe_opt_in"
            indexes = ((("resident", "template_id"), True),)

    db.create_tables([SubscribeOptIn])


def down(migrator, db):
    db.execute_sql("DROP TABLE subscribe_opt_in")
    migrator.migrate(
        migrator.drop_column("resident", "oa_following"),
        migrator.drop_column("resident", "phone_offered_at"),
        migrator.drop_column("revisit", "asked_at"),
        migrator.drop_column("revisit", "channel"),
    )
