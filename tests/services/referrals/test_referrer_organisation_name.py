"""The referral page's "Referred by" names the referrer's organisation by the name referrals keeps from its staff's
tokens (organisation_names, migration 0017) when the referral itself recorded none: it read "practice <id>" though
the name was known. On SQLite and PostgreSQL: the name is kept by an upsert written for each dialect."""

from __future__ import annotations

import re

from tests.services.referrals.conftest import GP_PRACTICE, nhs_number
from tests.services.referrals.test_staff_in_words import HTML, dr_wu


def someone_else(h, headers) -> str:
    return h.refer({"nhs_number": nhs_number(7), "given_name": "Mary"}, headers=headers).get_json()["id"]


def referred_by(h, rid: str) -> str:
    html = h.client.get(f"/queue/{rid}", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    return re.search(r'id="referrer">([^,<]*),', html).group(1)


def test_referred_by_takes_the_name_kept_for_the_referrers_organisation(both):
    h = both
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]  # the token named no organisation
    assert referred_by(h, rid) == f"A GP at practice {GP_PRACTICE}"
    other = someone_else(h, dr_wu(h))
    cancelled = h.act(other, "cancel", headers=dr_wu(h, org_name="Riverside Surgery"), reason="referrer_withdrew")
    assert cancelled.status_code == 200, cancelled.get_json()  # a later token of the practice's names it
    assert referred_by(h, rid) == "A GP at Riverside Surgery"


def test_the_name_the_referral_recorded_comes_first(both):
    h = both
    rid = h.refer(headers=dr_wu(h, org_name="Wu Medical Centre")).get_json()["id"]
    other = someone_else(h, dr_wu(h))
    h.act(other, "cancel", headers=dr_wu(h, org_name="Riverside Surgery"), reason="referrer_withdrew")
    assert referred_by(h, rid) == "A GP at Wu Medical Centre"


def test_the_api_names_the_referrers_organisation_as_the_page_does(both):
    """GET /referrals/{id}'s referrer.organisation_name took only the name the referral recorded."""
    h = both
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]
    assert "organisation_name" not in h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["referrer"]
    h.act(someone_else(h, dr_wu(h)), "cancel", headers=dr_wu(h, org_name="Riverside Surgery"),
          reason="referrer_withdrew")
    shown = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["referrer"]
    assert shown == {"role": "gp", "organisation_name": "Riverside Surgery"}
    recorded = h.refer({"nhs_number": nhs_number(8), "given_name": "Ann"},
                       headers=dr_wu(h, org_name="Wu Medical Centre")).get_json()["id"]
    assert h.client.get(f"/referrals/{recorded}", headers=h.adviser()).get_json()["referrer"][
        "organisation_name"] == "Wu Medical Centre"  # the name the referral recorded comes first
