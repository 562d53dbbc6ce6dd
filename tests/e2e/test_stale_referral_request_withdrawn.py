"""A referral request the referrals service never took in (its hand-over dead-lettered and never re-driven)
no longer keeps the suggestion for ever: after the retention period without news, adjustments' sweep
withdraws its consent and erases the suggestion; the referrals service, consuming the withdrawal, remembers
it, so the request makes no referral if it is re-driven after all. Each service through its own outbox,
relay and consumer, on real Kafka."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.e2e.support import adjustments_and_referrals, consume_until
from tests.platform.support import read_topic
from tests.services.adjustments.test_retention import LINK_TTL, SIX_YEARS
from worklink.db import utcnow
from worklink.messaging.outbox import Outbox
from worklink_adjustments import sweep
from worklink_adjustments.models import PLATFORM as ADJUSTMENTS_TABLES, Suggestion
from worklink_referrals.models import Referral, WithdrawnRequest

pytestmark = pytest.mark.timeout(300)
OUTBOX = ADJUSTMENTS_TABLES.outbox


def test_a_stale_request_is_withdrawn_and_the_referrals_service_makes_no_referral_from_it(
        tmp_path, kafka_broker, new_topic, make_harness):
    both = adjustments_and_referrals(tmp_path, kafka_broker, new_topic, make_harness)
    sid = both.issue_with_referral_consent()
    with both.adjustments_db.transaction() as session:  # the hand-over never reaches the referrals service
        [hand_over] = session.execute(sa.select(OUTBOX).where(OUTBOX.c.type == "adjustments.referral.requested")
                                      ).mappings().all()
        session.execute(OUTBOX.delete().where(OUTBOX.c.id == hand_over["id"]))
    client = both.adjustments.test_client()
    assert client.post(f"/suggestions/{sid}/withdraw", json={"version": 2, "reason": "other"},
                       headers=both.token("gp", "dr-ada")).status_code == 200

    # The retention period (and the employer link's life) on: the sweep finds the request stale.
    at = utcnow() + SIX_YEARS + LINK_TTL + timedelta(days=1)
    outbox = Outbox("adjustments", ADJUSTMENTS_TABLES, both.catalogue)
    assert sweep.run_once(both.adjustments_db, outbox, now=at)["erased_past_retention"] == 1
    with both.adjustments_db.transaction() as session:
        assert session.get(Suggestion, uuid.UUID(sid)).erased_at is not None
    both.drain()
    [told] = read_topic(kafka_broker.bootstrap_servers, both.moved["adjustments.referral-requests"], 1)
    assert json.loads(told.value)["type"] == "adjustments.referral.consent_withdrawn"

    referrals_db = both.referrals.ctx.database

    def remembered(_outcomes) -> bool:
        with referrals_db.transaction() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(WithdrawnRequest)) == 1

    intake = both.referrals_consumer()
    try:
        consume_until(intake, remembered)
        # Re-driven after all: the request arrives after its withdrawal and makes no referral.
        with both.adjustments_db.transaction() as session:
            session.execute(OUTBOX.insert().values({k: v for k, v in hand_over.items() if k != "position"}))
        both.drain()
        consume_until(intake, lambda outcomes: len(outcomes) >= 1)
    finally:
        intake.close()
    with referrals_db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0
