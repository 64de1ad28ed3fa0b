"""Scheduled jobs (workers/scheduler.py registers them with RQ's CronScheduler).

* ``sla_sweep``      every minute: backend.services.sla_sweep (yellow, 督办, auto 上报);
* ``remind_unaccepted`` every minute: an SMS to the holder of a task still unaccepted
  ``UNACCEPTED_SMS_MINUTES`` after assignment (once per assignment; quiet hours apply);
* ``sample_revisits`` every 10 minutes: backend.services.sla_sweep.sample_revisits;
* ``remind_rating``  every 10 minutes: one reminder to a reporter who has not rated 24 h after
  closure (on the channel that reaches them, workers/reach.py);
* ``daily_digest``   daily 08:00 Asia/Shanghai: one template message per community head
  summarising their community, instead of a message per event;
* ``retention_sweep`` nightly 03:00 Asia/Shanghai: backend.services.retention (personal data
  of cases past their category's retention period removed; counts logged and audited);
* ``forget_expired`` every 10 minutes: rows kept only for a while — mini-program upload
  receipts after ``uploads.VALID_FOR``, and chat drafts a day after they lapsed
  (``drafts.KEEP_AFTER_EXPIRY_SECONDS``).
* ``compact_metric_sums`` every minute: on PostgreSQL the metric triggers append each change's
  sums to ``metric_sum``; this folds each key's rows into one (backend.services.admin_metrics).
All are idempotent: Notification keys (and Revisit's unique key) make a second run a no-op.
"""
from __future__ import annotations

import datetime as dt
import time

from backend import clock
from backend.models import Area, Event, Rating, Resident, Staff
from backend.services import admin_metrics, drafts, retention, uploads
from backend.services import sla_sweep as sla_service
from workers import audience, delivery, messages, reach
from workers.context import db_session, ensure_ready, job_logger, redis_connection

log = job_logger("ejia.sweeps")
OPEN = ("assigned", "processing")
REMIND_LOOKBACK = dt.timedelta(days=2)  # older unaccepted tasks were reminded (or urged) already


def sla_sweep() -> dict:
    ensure_ready()
    with db_session():
        return sla_service.sweep_sla()


def forget_expired() -> dict:
    ensure_ready()
    dialog_now = clock.now().replace(tzinfo=dt.timezone.utc).timestamp()  # the drafts' clock
    with db_session():
        return {"uploads": uploads.forget_uploads(clock.now() - uploads.VALID_FOR),
                "drafts": drafts.forget_drafts(dialog_now - drafts.KEEP_AFTER_EXPIRY_SECONDS, time.time())}


def compact_metric_sums() -> int:
    ensure_ready()
    with db_session():
        return admin_metrics.compact()


def retention_sweep() -> dict:
    ensure_ready()
    with db_session():
        return retention.sweep()


def sample_revisits() -> dict:
    ensure_ready()
    with db_session():
        counts = sla_service.sample_revisits()
        if any(counts.values()):
            log.info("revisits queued: %s", counts)
        return counts


def remind_unaccepted() -> int:
    """SMS reminder for tasks assigned N minutes ago and still not accepted."""
    settings = ensure_ready()
    minutes = settings.unaccepted_sms_minutes
    if minutes <= 0:
        return 0
    now = clock.now()
    with db_session():
        due = (Event.select().where((Event.status == "assigned") & Event.assigned_at.is_null(False)
                                    & (Event.assigned_at <= now - dt.timedelta(minutes=minutes))
                                    & (Event.assigned_at > now - REMIND_LOOKBACK))
               .order_by(Event.id))
        per_event = []
        for event in due:
            holder = {"level": event.holder_level, "area_id": event.holder_area_id,
                      "department_id": event.holder_department_id, "staff_id": event.holder_staff_id}
            prefix = f"remind{event.id}-{int(event.assigned_at.timestamp())}"
            batch = []
            for person in audience.holder_staff(holder):
                if not person.phone_enc:
                    continue
                recipient = f"staff:{person.id}"
                content = messages.sms_content("remind", event, recipient, minutes=minutes)
                batch.append(audience.Delivery(f"{prefix}:{recipient}:sms", recipient, "sms", "remind",
                                               content, event.urgent))
            if batch:
                per_event.append((event, batch))
        connection = redis_connection()
        count = 0
        for event, batch in per_event:
            rows = delivery.persist(batch, event, None)
            count += delivery.dispatch(connection, rows)
        if count:
            log.info("unaccepted reminders: %d SMS enqueued", count)
        return count


RATE_REMINDER_AFTER = dt.timedelta(hours=24)
RATE_REMINDER_UNTIL = dt.timedelta(days=7)


def remind_rating() -> int:
    """One reminder, 24 hours after closure, to a reporter who has not rated (issue 14).

    Unrated stays 未评价 in the metrics — never counted as satisfied — so the reminder is the
    honest way to get more answers. The key ``rate-remind<event>`` makes it once per event.
    """
    settings = ensure_ready()
    now = clock.now()
    with db_session():
        rated = Rating.select(Rating.event)
        due = (Event.select().where((Event.status == "closed") & Event.reporter_resident.is_null(False)
                                    & (Event.closed_at <= now - RATE_REMINDER_AFTER)
                                    & (Event.closed_at > now - RATE_REMINDER_UNTIL) & Event.id.not_in(rated))
               .order_by(Event.closed_at).limit(500))
        connection = redis_connection()
        count = 0
        for event in due:
            resident = Resident.get_or_none(Resident.id == event.reporter_resident_id)
            prefix = f"rate-remind{event.id}"
            if resident is None or reach.already_planned(prefix, resident):
                continue
            rows = delivery.persist([reach.plan_notice(settings, prefix, resident, event, "rate_reminder")],
                                    event, None)
            count += delivery.dispatch(connection, rows)
        if count:
            log.info("rating reminders: %d enqueued", count)
        return count


def digest_counts(community: Area, day: dt.date, now: dt.datetime) -> dict:
    """What a community head reads each morning (``day`` = yesterday, local)."""
    start = clock.from_local(dt.datetime.combine(day, dt.time()))
    end = start + dt.timedelta(days=1)
    inside = Event.area_path.startswith(community.path) & (Event.quick_record == False)  # noqa: E712
    count = lambda where: Event.select().where(inside & where).count()  # noqa: E731
    overdue = ((Event.status == "assigned") & (Event.accept_due_at < now)) | (
        (Event.status == "processing") & (Event.resolve_due_at < now))
    return {
        "new": count((Event.created_at >= start) & (Event.created_at < end)),
        "closed": count((Event.closed_at >= start) & (Event.closed_at < end)),
        "waiting": count(Event.status == "assigned"),
        "processing": count(Event.status == "processing"),
        "overdue": count(overdue),
        "yellow": count(Event.status.in_(OPEN) & (Event.sla_level == "yellow")),
    }


def daily_digest(day: str | None = None) -> int:
    """One template per community head about yesterday (local) and what is open now."""
    settings = ensure_ready()
    now = clock.now()
    report_day = dt.date.fromisoformat(day) if day else clock.to_local(now).date() - dt.timedelta(days=1)
    with db_session():
        heads = (Staff.select(Staff, Area).join(Area, on=(Staff.area == Area.id))
                 .where((Staff.role == "community_head") & (Staff.active == True)  # noqa: E712
                        & Staff.oa_openid.is_null(False) & (Area.level == "community"))
                 .order_by(Staff.id))
        deliveries = []
        for head in heads:
            counts = digest_counts(head.area, report_day, now)
            recipient = f"staff:{head.id}"
            content = messages.digest_template(settings, head.oa_openid, report_day, head.area.name, counts)
            content["counts"] = counts
            deliveries.append(audience.Delivery(f"digest{report_day:%Y%m%d}:{recipient}:template", recipient,
                                                "template", "digest", content))
        rows = delivery.persist(deliveries, None, None)
        count = delivery.dispatch(redis_connection(), rows)
        log.info("daily digest for %s: %d head(s), %d enqueued", report_day, len(deliveries), count)
        return count

