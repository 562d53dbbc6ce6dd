"""What other organisations see of a staff member: a login id (a token's `sub`, here e-mail addresses) is an
internal identifier of the staff member's own organisation. The assigned adviser, the author of a case note or
contact attempt and a referrer who recorded consent themselves are shown to any other organisation by the display
name their token carried, else by role at their organisation (by its name, when a token of theirs carried it);
their own organisation keeps seeing the login id."""

from __future__ import annotations

import json
import re

from tests.services.referrals.conftest import ADVISERS, GP_PRACTICE, nhs_number
from worklink.auth import mint_token

HTML = {"Accept": "text/html"}
SAM = "sam.patel@riverside-works.example.org"
LEE = "lee.jones@riverside-works.example.org"
DR_WU = "dr.wu@practice.example.org"


def bearer(h, role, org, subject, **claims):
    return {"Authorization": "Bearer " + mint_token(h.settings.jwt, role=role, org=org, subject=subject, **claims)}


def sam(h, **claims):
    """An adviser whose token names her and her organisation."""
    return bearer(h, "adviser", ADVISERS, SAM, **{"name": "Sam Patel", "org_name": "Riverside Works", **claims})


def dr_wu(h, **claims):
    return bearer(h, "gp", GP_PRACTICE, DR_WU, **claims)


def read(h, rid, headers) -> dict:
    response = h.client.get(f"/referrals/{rid}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_referrer_reads_the_adviser_by_name_and_organisation_never_by_login_id(both):
    h = both
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]
    assert h.act(rid, "accept", headers=sam(h), claim=True).status_code == 200
    assert h.act(rid, "record_contact_attempt", headers=sam(h), channel="phone", result="no_answer").status_code == 200
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "Left a voicemail"},
                         headers=sam(h)).status_code == 201

    seen = read(h, rid, dr_wu(h))
    assert (seen["assigned_adviser"], seen["assigned_adviser_name"], seen["assigned_org_name"]) == (
        "Sam Patel at Riverside Works", "Sam Patel", "Riverside Works")
    assert "sam.patel" not in json.dumps(seen)
    listed = h.client.get("/referrals?view=sent", headers=dr_wu(h)).get_json()["items"]
    assert [item["assigned_adviser"] for item in listed] == ["Sam Patel at Riverside Works"]

    alliance = read(h, rid, h.admin())  # the alliance reads notes and attempts: not its own staff either
    assert alliance["assigned_adviser"] == "Sam Patel at Riverside Works"
    assert [(n["by"], n["by_name"]) for n in alliance["notes"]] == [("Sam Patel at Riverside Works", "Sam Patel")]
    assert [(a["by"], a["by_name"]) for a in alliance["attempts"]] == [("Sam Patel at Riverside Works", "Sam Patel")]
    assert "sam.patel" not in json.dumps(alliance)

    own = read(h, rid, bearer(h, "org_admin", ADVISERS, "lead@riverside-works.example.org"))
    assert own["assigned_adviser"] == SAM and own["assigned_adviser_name"] == "Sam Patel"
    assert [n["by"] for n in own["notes"]] == [SAM] and [a["by"] for a in own["attempts"]] == [SAM]


def test_without_a_name_another_organisation_reads_the_role_at_the_organisation(harness):
    """An adviser assigned by their team lead: the lead's token names the lead, not the adviser. An organisation
    no token named is given by its id."""
    h = harness
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]
    assert h.client.get("/referrals", headers=bearer(h, "adviser", ADVISERS, LEE)).status_code == 200  # signs in
    h.act(rid, "accept", headers=bearer(h, "org_admin", ADVISERS, "lead@x.example.org"), adviser_id=LEE)
    assert read(h, rid, dr_wu(h))["assigned_adviser"] == f"an employment adviser at organisation {ADVISERS}"

    h.act(rid, "make_first_contact", headers=bearer(h, "adviser", ADVISERS, SAM, org_name="Riverside Works"))
    seen = read(h, rid, dr_wu(h))  # a token of the organisation named it since
    assert (seen["assigned_adviser"], seen["assigned_adviser_name"]) == (
        "an employment adviser at Riverside Works", None)
    assert "lee.jones" not in json.dumps(seen)


def test_a_referrer_who_recorded_consent_is_not_shown_to_the_adviser_by_login_id(both):
    h = both
    named = dr_wu(h, name="Dr Rosa Wu", org_name="Riverside Surgery")
    rid = h.refer(headers=named).get_json()["id"]
    assert read(h, rid, sam(h))["consent"]["captured_by"] == "Dr Rosa Wu at Riverside Surgery"
    assert read(h, rid, dr_wu(h))["consent"]["captured_by"] == DR_WU  # their own practice

    unnamed = h.refer(headers=dr_wu(h), person={"nhs_number": nhs_number(1), "given_name": "Grace"}).get_json()["id"]
    assert read(h, unnamed, sam(h))["consent"]["captured_by"] == f"a GP or other clinician at organisation {GP_PRACTICE}"

    stated = h.refer(headers=dr_wu(h), person={"nhs_number": nhs_number(2), "given_name": "Mary"},
                     consent={"explicit": True, "captured_at": "2026-11-23T08:30:00Z", "method": "verbal",
                              "outcomes_to_referrer": True, "captured_by": "Practice nurse"}).get_json()["id"]
    assert read(h, stated, sam(h))["consent"]["captured_by"] == "Practice nurse"  # the referrer's own words


def test_the_referral_page_names_the_adviser_and_note_authors_to_other_organisations(harness):
    h = harness
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]
    h.act(rid, "accept", headers=sam(h), claim=True)
    h.client.post(f"/referrals/{rid}/notes", json={"text": "Left a voicemail"}, headers=sam(h))

    gp_page = h.client.get(f"/queue/{rid}", headers={**dr_wu(h), **HTML}).get_data(as_text=True)
    assert re.search(r'id="adviser">([^<]*)<', gp_page).group(1) == "Adviser: Sam Patel at Riverside Works"
    alliance_page = h.client.get(f"/queue/{rid}", headers={**h.admin(), **HTML}).get_data(as_text=True)
    assert "Sam Patel at Riverside Works: Left a voicemail" in alliance_page
    assert "sam.patel" not in gp_page + alliance_page
    own_page = h.client.get(f"/queue/{rid}", headers={**sam(h), **HTML}).get_data(as_text=True)
    assert f"Adviser: Sam Patel ({SAM})" in own_page  # their own organisation: by name and login id


def test_the_alliance_routing_a_held_referral_reads_which_organisation_runs_each_service(make_harness):
    """The directory's events name a service's organisation by id only; once a token of its staff named it here,
    the routing choices say whose service it is."""
    from tests.services.referrals.conftest import OTHER_ADVISERS, OTHER_SERVICE

    h = make_harness()
    held = h.refer(headers=dr_wu(h)).get_json()["id"]  # no service yet: held for the alliance
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS, areas=["GL1"])
    routed = h.refer(headers=dr_wu(h), person={"nhs_number": nhs_number(3), "given_name": "Grace"}).get_json()
    assert routed["assigned_org_id"] == OTHER_ADVISERS
    gloucester = bearer(h, "adviser", OTHER_ADVISERS, "kim@gloucester.example.org", org_name="Gloucester Works")
    assert h.act(routed["id"], "acknowledge", headers=gloucester).status_code == 200

    html = h.client.get(f"/queue/{held}", headers={**h.admin(), **HTML}).get_data(as_text=True)
    choices = re.search(r'<select[^>]*id="route-service_id".*?</select>', html, re.S).group(0)
    assert f"Gloucester Works: serves GL1 (this person&#39;s area, GL1) – directory id {OTHER_SERVICE}" in choices


def test_the_subject_access_export_names_staff_as_another_organisation_sees_them(harness):
    """The export goes to the person, through the alliance: its recorded accesses name no staff login, and neither
    do the adviser and the consent's taker."""
    h = harness
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]
    h.act(rid, "accept", headers=sam(h), claim=True)
    exported = h.client.post("/people/subject-access", json={"referral_id": rid}, headers=h.admin())
    assert exported.status_code == 200, exported.get_json()
    (referral,) = exported.get_json()["referrals"]
    assert referral["assigned_adviser"] == "Sam Patel at Riverside Works"
    assert referral["consent"]["captured_by"] == f"a GP or other clinician at organisation {GP_PRACTICE}"
    assert "sam.patel" not in exported.get_data(as_text=True) and "dr.wu" not in exported.get_data(as_text=True)


def test_staff_of_no_organisation_read_as_their_role_and_a_long_name_is_kept_cut(both):
    """A token may name no organisation (an alliance admin's): such a member of staff read '... at organisation
    None'. A display name longer than the 200 characters kept failed the note on PostgreSQL (too long for its
    column)."""
    from worklink_referrals.access import staff_words

    assert staff_words(GP_PRACTICE, "admin-1", None, name=None, role="alliance_admin", org_names={}) == (
        "an alliance administrator")
    assert staff_words(GP_PRACTICE, "admin-1", None, name="Kim Lee", role="alliance_admin", org_names={}) == "Kim Lee"
    h = both
    rid = h.refer(headers=dr_wu(h)).get_json()["id"]
    h.act(rid, "accept", headers=sam(h), claim=True)
    long_name = "Sam " + "Patel-" * 60
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "Left a voicemail"},
                         headers=sam(h, name=long_name)).status_code == 201
    [note] = read(h, rid, h.admin())["notes"]  # the alliance reads notes
    assert note["by_name"] == long_name[:200].strip() and note["by"].endswith(" at Riverside Works")
