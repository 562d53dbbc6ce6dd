"""Some identity providers fill a token's `name` claim with the login id: the e-mail address, or the subject itself.
Shown to another organisation as a display name, it gave away the internal identifier the services otherwise keep
to the staff member's own organisation (access.staff_words). Such a claim is no name: readers elsewhere see the
role at the organisation instead (worklink.auth.display_name, read by every service through Principal.name)."""

from __future__ import annotations

import json

import pytest

from tests.services.referrals.test_staff_in_words import ADVISERS, SAM, bearer, dr_wu, read, sam
from worklink.auth import Principal

ADVISER_AT_RIVERSIDE = "an employment adviser at Riverside Works"


@pytest.mark.parametrize("claimed", [SAM, SAM.upper(), f"Sam Patel <{SAM}>"])
def test_an_address_in_the_name_claim_is_not_shown_to_the_referrer(harness, claimed):
    h = harness
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]
    assert h.act(rid, "accept", headers=sam(h, name=claimed), claim=True).status_code == 200
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "Left a voicemail"},
                         headers=sam(h, name=claimed)).status_code == 201

    seen = read(h, rid, dr_wu(h))
    assert (seen["assigned_adviser"], seen["assigned_adviser_name"]) == (ADVISER_AT_RIVERSIDE, None)
    alliance = read(h, rid, h.admin())
    assert [(n["by"], n["by_name"]) for n in alliance["notes"]] == [(ADVISER_AT_RIVERSIDE, None)]
    assert "sam.patel" not in json.dumps(seen).lower() + json.dumps(alliance).lower()


def test_a_name_claim_that_is_the_subject_is_not_shown_either(harness):
    """A login id without an @ (a staff number, a directory account name) sent as the name."""
    h = harness
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]
    staff_number = bearer(h, "adviser", ADVISERS, "RW04417", name="rw04417", org_name="Riverside Works")
    assert h.act(rid, "accept", headers=staff_number, claim=True).status_code == 200
    seen = read(h, rid, dr_wu(h))
    assert (seen["assigned_adviser"], seen["assigned_adviser_name"]) == (ADVISER_AT_RIVERSIDE, None)
    assert "rw04417" not in json.dumps(seen).lower()


def test_a_referrer_named_by_their_address_reads_by_role_at_their_practice(harness):
    h = harness
    rid = h.refer(headers=dr_wu(h, name="dr.wu@practice.example.org", org_name="Riverside Surgery")).get_json()["id"]
    seen = read(h, rid, sam(h))
    assert "name" not in seen["referrer"] and seen["consent"]["captured_by"] == (
        "a GP or other clinician at Riverside Surgery")
    assert "dr.wu" not in json.dumps(seen)


def test_a_real_name_is_kept():
    """Names with an apostrophe, a hyphen, accents, or a title are names; only the login id is held back."""
    for name in ("Sam O'Neill-Patel", "Dr Zoë Wu", "Sam Patel (Riverside)"):
        assert Principal(SAM, "adviser", ADVISERS, {"name": f"  {name} "}).name == name
