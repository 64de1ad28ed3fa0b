"""The demo with a history (issue 16 item 8): ``seed_demo()`` writes six months of cases through the
real services — every status and holder level, escalations, dispatches, returns, reopens,
即报即办, ratings, revisits, feedback, emergencies, sensitive and anonymous cases — with staff
phones encrypted, deterministically, and quietly: nothing is sent about the past, and the
workers' first minute does not flood the sandbox. The console opens on something."""
from __future__ import annotations

import datetime as dt
import re

import peewee

from backend import clock, config
from backend.crypto import FieldCipher
from backend.db import db
from backend.demo_history import seed_history
from backend.models import (
    AppFeedback,
    Event,
    EventStep,
    Notification,
    OutboxMessage,
    Rating,
    Revisit,
    Staff,
)
from backend.seed import seed_demo
from tests.conftest import truncate_all
from backend.passwords import DEMO_PASSWORD
from tests.integration.test_console_fixtures import ConsoleClient, console_app  # noqa: F401
from tests.worker_fixtures import worker_settings_installed
from workers import jobs, sweeps
from workers.queues import ALL_QUEUES, queue
from tests.workers_run import drain

NOW = dt.datetime(2026, 12, 2, 6, 0)  # naive UTC: 14:00 in Zhangzhou on a Wednesday


def fingerprint() -> list:
    """What the history is made of, independent of ids, tokens and random nonces."""
    steps = {}
    for step in EventStep.select(EventStep.event, EventStep.action, EventStep.to_status).order_by(EventStep.id):
        steps.setdefault(step.event_id, []).append(f"{step.action}>{step.to_status}")
    return [(e.number, e.status, e.category.code if e.category_id else None, e.grid_id, e.holder_level,
             e.created_at.isoformat(), e.reopen_count, "|".join(steps[e.id]))
            for e in Event.select().order_by(Event.number)]


def demo_login(app, username: str) -> ConsoleClient:
    client = ConsoleClient(app)
    assert client.login(username, DEMO_PASSWORD).status_code == 303
    return client


def test_the_demo_history_is_varied_quiet_and_deterministic(redis_conn, settings):
    summary = seed_demo(history=False)
    history = seed_history(now=NOW)
    assert history["written"] and 450 <= history["cases"] <= 800
    assert set(history["stories"]) >= {"own", "quick", "dispatch", "centre", "verify", "return", "reopen", "complain",
                                       "reject", "withdraw", "merge", "emergency", "urge"}
    statuses = dict(Event.select(Event.status, peewee.fn.COUNT(Event.id)).group_by(Event.status).tuples())
    assert set(statuses) == {"assigned", "processing", "resolved", "closed", "rejected", "merged", "withdrawn"}
    open_cases = Event.select().where(Event.status.in_(("assigned", "processing", "resolved")))
    assert open_cases.count() >= 8
    assert any(e.accept_due_at < NOW and e.status == "assigned" or e.resolve_due_at < NOW for e in open_cases)
    held = {e.holder_level for e in Event.select().where(Event.holder_level.is_null(False))}
    assert held == {"grid", "community", "centre", "department"}
    actions = dict(EventStep.select(EventStep.action, peewee.fn.COUNT(EventStep.id)).group_by(EventStep.action).tuples())
    for action in ("submit", "route", "accept", "escalate", "dispatch", "return", "resolve", "verify", "reopen",
                   "complain", "reject", "merge", "withdraw", "urge", "comment", "rate", "revisit", "quick_record"):
        assert actions.get(action, 0) > 0, action
    assert Event.select().where(Event.quick_record == True).count() == actions["quick_record"]  # noqa: E712
    assert Event.select().where(Event.reopen_count > 0).exists()
    assert Event.select().where(Event.emergency.is_null(False) & (Event.urgent == True)).exists()  # noqa: E712
    assert Event.select().where(Event.sensitivity == "sensitive").exists()
    assert Event.select().where(Event.anonymous == True).exists()  # noqa: E712
    assert {r.status for r in Revisit.select()} == {"pending", "done"}
    assert {r.outcome for r in Revisit.select().where(Revisit.status == "done")} == {"satisfied", "unsatisfied", "unreachable"}
    assert 0.5 < Rating.select().where(Rating.score >= 4).count() / Rating.select().count() < 0.95
    assert AppFeedback.select().count() == 5 and AppFeedback.select().where(AppFeedback.reply.is_null(False)).exists()
    assert all(e.created_at < NOW for e in Event.select())
    # the dates follow the workflow: no step before its case, none after "now"
    assert not EventStep.select().join(Event).where((EventStep.created_at < Event.created_at)
                                                    | (EventStep.created_at > NOW)).exists()
    # Quiet: every fact of the past is marked processed, nothing was queued or sent.
    assert not OutboxMessage.select().where(OutboxMessage.processed_at.is_null()).exists()
    assert Notification.select().count() == 0
    assert all(queue(name, redis_conn).count == 0 for name in ALL_QUEUES)
    # Every staff member has a (fake) phone, encrypted like a real one.
    cipher = FieldCipher.from_key(config.current().field_key)
    phones = [cipher.decrypt(s.phone_enc, "staff.phone") for s in Staff.select()]
    assert len(summary["staff"]) == len(phones) and all(re.fullmatch(r"1380000\d{4}", p) for p in phones)
    assert len(set(phones)) == len(phones)
    # Deterministic: the same seed writes the same past.
    first = fingerprint()
    truncate_all(db.obj)  # the proxy's database (a console app built earlier may have bound a new one)
    db.connect(reuse_if_open=True)
    seed_demo(history=False)
    assert seed_history(now=NOW)["cases"] == history["cases"]
    assert fingerprint() == first
    assert seed_history(now=NOW)["written"] is False  # once only


def test_the_console_opens_on_something_and_the_workers_first_minute_is_a_handful_not_a_flood(
        console_app, redis_conn, sandbox, settings):
    seed_demo(history=False)
    now = clock.now().replace(minute=0, second=0, microsecond=0)
    seed_history(now=now)
    today = clock.local_today()
    last_month_end = today.replace(day=1) - dt.timedelta(days=1)
    admin = demo_login(console_app, "admin")
    page = admin.get(f"/console/metrics?from={last_month_end.replace(day=1)}&to={last_month_end}").get_data(as_text=True)
    due = int(re.search(r'id="total-due">(\d+)<', page).group(1))
    satisfaction = re.search(r'id="total-satisfaction-rate">([^<]+)<', page).group(1)
    assert due > 30 and re.fullmatch(r"\d+(\.\d+)?%", satisfaction), (due, satisfaction)
    centre = demo_login(console_app, "city-centre")
    assert 'id="revisits-empty"' not in centre.get("/console/revisits").get_data(as_text=True)
    assert centre.get("/console/events").get_data(as_text=True).count("<tr") > 20
    assert centre.get("/console/map").status_code == 200
    # The scheduler's first minute: overdue cases urged, a few reminders — never the past retold.
    with worker_settings_installed(sandbox.settings.with_overrides(quiet_hours="off"), settings), \
            clock.frozen(now + dt.timedelta(minutes=1)):
        jobs.sweep_outbox()
        for sweep in (sweeps.sla_sweep, sweeps.remind_unaccepted, sweeps.remind_rating, sweeps.sample_revisits):
            sweep()
        drain(redis_conn)
    db.connect(reuse_if_open=True)
    sent = len(sandbox.calls("message/template/send")) + len(sandbox.calls("message/custom/send"))
    assert 0 < Notification.select().count() <= 60 and sent <= 60
