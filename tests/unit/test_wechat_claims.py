"""When a Redis claim alone proves a first delivery (wechat.inbound.claim_is_proof)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wechat.inbound import CLAIM_TTL, GRACE, claim_is_proof

NOW = 1_800_000_000


def test_steady_state_fresh_message_is_proved_by_its_claim():
    assert claim_is_proof(since=NOW - 3600, created=NOW - 2, now=NOW)


def test_redis_that_started_keeping_claims_after_the_message_is_no_proof():
    assert not claim_is_proof(since=NOW - 10, created=NOW - 5, now=NOW)
    # within the clock-difference grace, too
    assert not claim_is_proof(since=NOW - GRACE + 1, created=NOW, now=NOW)


def test_message_older_than_any_claim_can_live_is_no_proof():
    created = NOW - (CLAIM_TTL - GRACE) - 1
    assert not claim_is_proof(since=NOW - 10 * CLAIM_TTL, created=created, now=NOW)


@given(since=st.integers(NOW - 10**6, NOW), created=st.integers(NOW - 10**6, NOW + 600),
       first=st.integers(0, CLAIM_TTL))
def test_proof_implies_every_earlier_copy_left_a_live_claim(since, created, first):
    """If the claim is taken as proof, then any earlier delivery — made no earlier than GRACE
    before ``created`` and no later than now — was claimed while Redis kept claims, and its
    claim (CLAIM_TTL long) has not expired yet."""
    if not claim_is_proof(since, created, NOW):
        return
    earliest = created - GRACE
    for delivered in range(max(earliest, NOW - first), NOW + 1, max(1, first // 7 or 1)):
        assert delivered >= since
        assert delivered + CLAIM_TTL >= NOW
