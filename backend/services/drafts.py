"""A person's chat between messages, kept in the database (``DialogDraft``; DESIGN §10).

The dialog's state — the open flow and its draft: description, place, photo media ids, the
step — used to live only in Redis, so a Redis restart without persistence lost every
unfinished report and a "1" sent while Redis was away could not file anything. Now one row
per openid holds it, plus the latest position report (LOCATION event) and a short lease.

The lease serialises one person's messages across web processes (photos sent together
arrive together, and each must see the one before it): ``lease`` takes it and reads the
row in one statement — an upsert that only takes a lease that is free or has lapsed —
and ``keep``/``release`` give it back. A process that dies holding it loses it after
``LEASE_SECONDS``. Times are epoch seconds; the draft's expiry is the dialog's clock, the
lease's is wall time.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from backend import clock
from backend.db import db
from backend.models import DialogDraft

LEASE_SECONDS = 10.0
#: A lapsed draft stays a day (the first message after it can say what lapsed); then the row
#: goes (``forget_drafts``): it holds what the person wrote.
KEEP_AFTER_EXPIRY_SECONDS = 86400


@dataclass(frozen=True)
class Draft:
    flow: str | None = None
    state: dict | None = None
    expires_at: float | None = None
    lat: float | None = None
    lng: float | None = None
    located_at: float | None = None


def lease(openid: str, holder: str, now: float) -> Draft | None:
    """Take ``openid``'s lease for ``holder`` and read the row (created if missing); None while
    another holder's lease runs."""
    stamp = DialogDraft.updated_at.db_value(clock.now())
    row = db.execute_sql(_sql(db.param)["lease"], (openid, holder, now + LEASE_SECONDS, stamp, now)).fetchone()
    if row is None:
        return None
    flow, state, expires_at, lat, lng, located_at = row
    return Draft(flow, DialogDraft.state.python_value(state), expires_at, lat, lng, located_at)


def keep(openid: str, holder: str, flow: str | None, state: dict | None, expires_at: float | None) -> None:
    """Store the draft (``flow`` None: nothing open) and give back ``holder``'s lease."""
    stamp = DialogDraft.updated_at.db_value(clock.now())
    db.execute_sql(_sql(db.param)["keep"], (flow, DialogDraft.state.db_value(state), expires_at, stamp, holder, openid))


def release(openid: str, holder: str) -> None:
    """Give back ``holder``'s lease, the draft unchanged."""
    db.execute_sql(_sql(db.param)["release"], (openid, holder))


def remember_location(openid: str, lat: float, lng: float, at: float) -> None:
    """The latest position report (as WeChat sent it), kept with the draft."""
    (DialogDraft.update(lat=lat, lng=lng, located_at=at)
     .where(DialogDraft.openid == openid).execute())


def forget_drafts(before: float, now: float) -> int:
    """Drop the rows whose draft lapsed, and whose position report aged, before ``before``
    (epoch s) — unless someone is answering that person right now; the count."""
    lapsed = ((DialogDraft.expires_at.is_null() | (DialogDraft.expires_at < before))
              & (DialogDraft.located_at.is_null() | (DialogDraft.located_at < before))
              & (DialogDraft.lease.is_null() | (DialogDraft.leased_until < now)))
    return DialogDraft.delete().where(lapsed).execute()


def erase(openid: str) -> int:
    """删除我的信息: the person's draft and position report, at once."""
    return DialogDraft.delete().where(DialogDraft.openid == openid).execute()


@functools.cache
def _sql(param: str) -> dict[str, str]:
    """The statements for one placeholder style ('?' SQLite, '%s' psycopg2); both engines
    support ``ON CONFLICT … DO UPDATE … WHERE`` and ``RETURNING``."""
    table = f'"{DialogDraft._meta.table_name}"'
    read = "flow, state, expires_at, lat, lng, located_at"
    return {
        "lease": f"INSERT INTO {table} (openid, lease, leased_until, updated_at) VALUES ({param}, {param}, {param}, "
                 f"{param}) ON CONFLICT (openid) DO UPDATE SET lease = excluded.lease, "
                 f"leased_until = excluded.leased_until WHERE {table}.lease IS NULL "
                 f"OR {table}.leased_until < {param} RETURNING {read}",
        "keep": f"UPDATE {table} SET flow = {param}, state = {param}, expires_at = {param}, updated_at = {param}, "
                f"lease = CASE WHEN lease = {param} THEN NULL ELSE lease END WHERE openid = {param}",
        "release": f"UPDATE {table} SET lease = NULL, leased_until = NULL WHERE openid = {param} AND lease = {param}",
    }
