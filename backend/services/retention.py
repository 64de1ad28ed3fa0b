"""Retention (PIPL; DESIGN §11): a closed case keeps personal data only as long as it needs to.

Each category says how many days after closure its events keep personal data
(``Category.retention_days``; empty means 3 years, 1 year for sensitive cases). The nightly
``sweep`` anonymises every event past its period; ``anonymise_event`` is also what a
resident's 删除我的信息 uses. Anonymising keeps what statistics need — status, times,
category, area, holder, rating scores, revisit outcomes — and removes the rest:

* the link to the reporter and the client key (which carries an openid);
* names and numbers in every free text (description, step notes, rating comments, revisit
  notes), the door number of the address, and the exact point (snapped to about 100 m);
* photos and voice notes: attachments removed and, unless another case still uses the same
  file, the file deleted from the media store;
* followers, and the stored bodies of notifications and outbox facts.

Raw WeChat pushes (``InboundMessage``) are personal data too: their text and our reply are
cleared after ``INBOUND_DAYS``; the row stays, so a late retry is still recognised.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import peewee

from backend import clock, media, outbox, privacy
from backend.db import transaction
from backend.models import (
    Attachment,
    Category,
    Event,
    EventFollower,
    EventStep,
    InboundMessage,
    Media,
    Notification,
    OutboxMessage,
    Rating,
    Resident,
    Revisit,
)
from backend.services import audit
from backend.workflow import TERMINAL_STATUSES

log = logging.getLogger("ejia.retention")
INBOUND_DAYS = 30
MEDIA_DELETE_TOPIC = "media.delete"  # an object retention could not delete at once (payload: sha256)
BATCH = 500


@dataclass
class Anonymised:
    events: int = 0
    photos_deleted: int = 0
    inbound_cleared: int = 0
    media_shas: list[str] = field(default_factory=list)  # files to delete once the transaction committed

    def add(self, other: "Anonymised") -> None:
        self.events += other.events
        self.photos_deleted += other.photos_deleted
        self.inbound_cleared += other.inbound_cleared
        self.media_shas += other.media_shas

    def counts(self) -> dict:
        return {"events": self.events, "photos_deleted": self.photos_deleted,
                "inbound_cleared": self.inbound_cleared}


def anonymise_event(event: Event, known: tuple[str, ...] = ()) -> Anonymised:
    """Strip one event of personal data (inside the caller's transaction); ``known`` are strings
    to remove wherever they appear (the reporter's own nickname and phone, when we have them).
    The media files go after commit: ``delete_files(result)``."""
    done = Anonymised(events=1)
    now = clock.now()
    scrub = lambda text: privacy.scrub(text, known)  # noqa: E731
    Event.update(
        description=scrub(event.description) or "（已脱敏）", address=privacy.public_address(event.address),
        lat=privacy.snap(event.lat), lng=privacy.snap(event.lng), raw_lat=privacy.snap(event.raw_lat),
        raw_lng=privacy.snap(event.raw_lng), reporter_resident=None, client_key=None, anonymised_at=now,
    ).where(Event.id == event.id).execute()
    for step in EventStep.select(EventStep.id, EventStep.note).where(
            (EventStep.event == event.id) & EventStep.note.is_null(False)):
        EventStep.update(note=scrub(step.note)).where(EventStep.id == step.id).execute()
    EventStep.update(actor_resident=None).where(EventStep.event == event.id).execute()
    for rating in Rating.select().where(Rating.event == event.id):
        Rating.update(resident=None, comment=scrub(rating.comment)).where(Rating.id == rating.id).execute()
    for revisit in Revisit.select().where((Revisit.event == event.id) & Revisit.note.is_null(False)):
        Revisit.update(note=scrub(revisit.note)).where(Revisit.id == revisit.id).execute()
    media_ids = [a.media_id for a in Attachment.select(Attachment.media).where(
        (Attachment.event == event.id) & Attachment.media.is_null(False))]
    Attachment.delete().where(Attachment.event == event.id).execute()
    for media_id in set(media_ids):
        still_used = Attachment.select().where(Attachment.media == media_id).exists()
        row = Media.get_or_none(Media.id == media_id)
        if row is not None and not still_used:
            done.media_shas.append(row.sha256)
            row.delete_instance()
            done.photos_deleted += 1
    EventFollower.delete().where(EventFollower.event == event.id).execute()
    Notification.update(payload=None).where(Notification.event == event.id).execute()
    OutboxMessage.update(payload={}).where(OutboxMessage.event == event.id).execute()
    return done


def delete_files(result: Anonymised) -> None:
    """Remove the media objects of anonymised events (after their rows were committed away).
    An object the store would not delete now (MediaUnavailable) is not forgotten: a
    ``media.delete`` outbox fact hands it to the workers, who retry until it is gone."""
    for sha in result.media_shas:
        try:
            delete_unused_object(sha)
        except media.MediaUnavailable as exc:
            log.error("could not delete media object %s now (%s); the workers will retry", sha, exc)
            with transaction():
                outbox.record(MEDIA_DELETE_TOPIC, payload={"sha256": sha})


def delete_unused_object(sha256: str) -> bool:
    """Delete the object unless a Media row names it again (the same bytes uploaded since the
    anonymisation: the object is theirs now). MediaUnavailable propagates."""
    if Media.select().where(Media.sha256 == sha256).exists():
        return False
    media.delete_object(sha256)
    return True


def _ended_before(cutoff: dt.datetime):
    ended = peewee.fn.COALESCE(Event.closed_at, Event.updated_at)
    return Event.status.in_(TERMINAL_STATUSES) & Event.anonymised_at.is_null() & (ended <= cutoff)


def due_events(now: dt.datetime | None = None) -> list[int]:
    """Ids of events past their category's period (by the event's own level when the category
    leaves the period to the default), and the ended events of residents who asked to be erased."""
    now = now or clock.now()
    due: set[int] = set()
    categories = list(Category.select(Category.id, Category.sensitivity, Category.retention_days))
    for level in privacy.LEVELS:
        for category in categories + [None]:
            days = privacy.retention_days(level, category.retention_days if category else None)
            where = _ended_before(now - dt.timedelta(days=days)) & (Event.sensitivity == level)
            where &= (Event.category == category.id) if category else Event.category.is_null()
            due.update(e.id for e in Event.select(Event.id).where(where))
    erased = Resident.select(Resident.id).where(Resident.erase_requested_at.is_null(False))
    due.update(e.id for e in Event.select(Event.id).where(
        _ended_before(now) & Event.reporter_resident.in_(erased)))
    return sorted(due)


def clear_inbound(before: dt.datetime, openid: str | None = None) -> int:
    """Blank the text of WeChat pushes received before ``before`` (or all of one openid's)."""
    where = InboundMessage.created_at < before
    if openid is not None:
        where = InboundMessage.openid == openid
    where &= InboundMessage.payload != {}
    return InboundMessage.update(payload={}, reply=None).where(where).execute()


def sweep(now: dt.datetime | None = None) -> dict:
    """The nightly job: anonymise what is due, clear old pushes, log and audit the counts."""
    now = now or clock.now()
    total = Anonymised()
    ids = due_events(now)
    for start in range(0, len(ids), BATCH):
        batch = Anonymised()
        with transaction():
            for event in Event.select().where(Event.id.in_(ids[start:start + BATCH])):
                batch.add(anonymise_event(event))
        delete_files(batch)
        total.add(batch)
    with transaction():
        total.inbound_cleared = clear_inbound(now - dt.timedelta(days=INBOUND_DAYS))
        audit.record(None, "anonymise", "retention", None, label="保存期限到期处理", **total.counts())
    log.info("retention: %s", total.counts())
    return total.counts()
