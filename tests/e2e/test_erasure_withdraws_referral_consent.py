"""An erasure request reaches the referral it touches: a GP's suggestion became a referral (the real
adjustments service hands it over on its restricted topic, the real referrals service takes it in); the
patient then asks the practice to erase their details, and the practice's organisation admin does it on
the adjustments pages. Erasure withdraws the consent of the open referral request first, and the referrals
service, consuming that, cancels the referral with consent withdrawn. Each service through its own outbox,
relay and consumer, on real Kafka."""

from __future__ import annotations

import json

import pytest

from tests.e2e.support import adjustments_and_referrals
from tests.people_rights import hidden, post_form as post
from tests.platform.support import read_topic
from tests.services.adjustments.conftest import VALID_NHS
from worklink_referrals.models import Referral

pytestmark = pytest.mark.timeout(300)


def test_erasure_in_adjustments_cancels_the_open_referral_with_consent_withdrawn(tmp_path, kafka_broker, new_topic,
                                                                                make_harness):
    both = adjustments_and_referrals(tmp_path, kafka_broker, new_topic, make_harness)
    referrals, client, token, moved = both.referrals, both.adjustments.test_client(), both.token, both.moved

    # The GP records the patient's consent to a referral and issues; the referral is made and accepted.
    both.issue_with_referral_consent()
    both.drain()
    referral_id = both.referral_accepted()

    # The patient asks the practice to erase their details: its organisation admin does, on the pages.
    admin = token("org_admin", "ig-lead")
    confirm = post(client, "/people/erase", {"nhs_number": VALID_NHS, "step": "reason", "reason": "objection"}, admin)
    assert confirm.status_code == 200 and "1 referral to an employment adviser is still open" in confirm.get_data(
        as_text=True)
    erased = post(client, "/people/erase", hidden(confirm), admin)
    assert erased.status_code == 200 and "consent to the open referral withdrawn" in erased.get_data(as_text=True)
    both.drain()
    restricted = read_topic(kafka_broker.bootstrap_servers, moved["adjustments.referral-requests"], 2)
    assert [json.loads(r.value)["type"] for r in restricted] == [
        "adjustments.referral.requested", "adjustments.referral.consent_withdrawn"]

    both.referral_cancelled(referral_id)
    with referrals.ctx.database.transaction() as session:
        referral = session.get(Referral, referral_id)
        assert referral.status_reason == "consent_withdrawn" and referral.consent_withdrawn_at is not None
    shown = referrals.client.get(f"/referrals/{referral_id}", headers=referrals.adviser()).get_json()
    assert shown["status"] == "cancelled" and "person" not in shown  # the adviser no longer sees the person
