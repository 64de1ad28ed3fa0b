"""backend.services.drafts: a person's chat draft in the database — one lease at a time, kept
across messages, gone a day after it lapsed and at once when the person asks (both engines)."""
from __future__ import annotations

from backend.models import DialogDraft, Resident
from backend.services import drafts, personal_data

NOW = 1_800_000_000.0


def test_one_lease_at_a_time_and_the_draft_is_read_with_it(clean_db):
    assert drafts.lease("o-1", "first", NOW) == drafts.Draft()  # the row is created on first use
    assert drafts.lease("o-1", "second", NOW + 1) is None  # the first still answers this person
    drafts.keep("o-1", "first", "report", {"flow": "report", "step": "place"}, NOW + 1800)
    draft = drafts.lease("o-1", "second", NOW + 2)
    assert (draft.flow, draft.state["step"], draft.expires_at) == ("report", "place", NOW + 1800)
    drafts.release("o-1", "second")
    assert drafts.lease("o-1", "third", NOW + 3) is not None


def test_a_lease_left_by_a_dead_process_lapses(clean_db):
    assert drafts.lease("o-1", "died", NOW) is not None
    assert drafts.lease("o-1", "next", NOW + drafts.LEASE_SECONDS - 1) is None
    assert drafts.lease("o-1", "next", NOW + drafts.LEASE_SECONDS + 1) is not None
    drafts.release("o-1", "died")  # too late: it is someone else's now
    assert drafts.lease("o-1", "third", NOW + drafts.LEASE_SECONDS + 2) is None


def test_the_position_report_is_kept_with_the_draft(clean_db):
    drafts.lease("o-1", "h", NOW)
    drafts.remember_location("o-1", 24.51, 117.65, NOW)
    drafts.release("o-1", "h")
    draft = drafts.lease("o-1", "h2", NOW + 5)
    assert (draft.lat, draft.lng, draft.located_at) == (24.51, 117.65, NOW)


def test_lapsed_drafts_are_dropped_a_day_later_and_live_ones_kept(clean_db):
    for openid, expires in (("o-old", NOW - 2 * 86400), ("o-live", NOW + 600), ("o-recent", NOW - 3600)):
        drafts.lease(openid, "h", NOW - 10)
        drafts.keep(openid, "h", "report", {"flow": "report"}, expires)
    drafts.lease("o-busy", "h", NOW)  # being answered right now, nothing kept yet
    assert drafts.forget_drafts(NOW - drafts.KEEP_AFTER_EXPIRY_SECONDS, NOW) == 1
    assert sorted(d.openid for d in DialogDraft.select()) == ["o-busy", "o-live", "o-recent"]


def test_deleting_my_information_deletes_my_draft(clean_db):
    resident = Resident.create(oa_openid="o-erase")
    drafts.lease("o-erase", "h", NOW)
    drafts.keep("o-erase", "h", "report", {"flow": "report", "draft": {"description": "我家楼下有人吵架"}}, NOW + 600)
    personal_data.erase_resident(resident)
    assert not DialogDraft.select().where(DialogDraft.openid == "o-erase").exists()
