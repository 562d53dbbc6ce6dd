"""Security and privacy review of the morning's referrals changes: what one organisation's staff leave on a
referral must not reach the next organisation the referral goes to."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS, OTHER_SERVICE, SERVICE
from worklink.auth import mint_token
from worklink_referrals import services
from worklink_referrals.config import ReferralSettings

SAM = "sam.patel@riverside-works.example.org"


def _sam(h):
    return {"Authorization": "Bearer " + mint_token(h.settings.jwt, role="adviser", org=ADVISERS, subject=SAM,
                                                    name="Sam Patel", org_name="Riverside Works")}


def test_a_referral_moved_to_another_organisation_leaves_the_old_ones_adviser_behind(both):
    """An adviser may be assigned while the referral is still 'submitted'; when its service is withdrawn the
    referral is held and routed to another organisation. The first organisation's adviser is not the new one's:
    the new organisation must not read the old adviser's login id as its own, nor the referrer read them as
    working 'at' the new organisation."""
    h = both
    h.add_service()
    rid = h.refer().get_json()["id"]
    assert h.act(rid, "assign", headers=_sam(h), claim=True).status_code == 200
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    with h.ctx.database.transaction() as session:
        gone = services.routing_service_for_update(session, SERVICE, uuid.UUID(ADVISERS),
                                                   h.clock.now + timedelta(seconds=1))
        gone.active = False
        session.flush()
        services.hold_unclaimed(session, h.ctx.outbox, ReferralSettings(), SERVICE, h.clock.now)

    new_org = h.client.get(f"/referrals/{rid}", headers=h.adviser(org=OTHER_ADVISERS)).get_json()
    assert new_org["assigned_org_id"] == OTHER_ADVISERS
    assert (new_org["assigned_adviser"], new_org["assigned_adviser_name"]) == (None, None)
    assert "sam.patel" not in json.dumps(new_org)
    listed = h.client.get("/referrals", headers=h.adviser(org=OTHER_ADVISERS)).get_json()["items"]
    assert [(item["id"], item["assigned_adviser"]) for item in listed] == [(rid, None)]
    referrer = h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()
    assert referrer["assigned_adviser"] is None
