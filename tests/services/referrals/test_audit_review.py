"""Reviewing the audit trail (worklink.audit_review, served by every service): who read or changed a
person's referral, who was refused, and the review itself audited - through the referrals service's
real endpoints, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from worklink.audit_review import out_of_hours
from worklink.web.audit_views import audit_time
from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS


def entries(h, headers=None, **query):
    response = h.client.get("/audit/entries", query_string=query, headers=headers or h.admin())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def a_referral_seen_by_some(h) -> str:
    """A GP refers; the adviser reads it; an adviser of another organisation is refused."""
    referral_id = h.refer().get_json()["id"]
    assert h.client.get(f"/referrals/{referral_id}", headers=h.adviser()).status_code == 200
    refused = h.client.get(f"/referrals/{referral_id}", headers=h.adviser("snooper", OTHER_ADVISERS))
    assert refused.status_code in (403, 404)
    return referral_id


def test_an_admin_sees_who_read_changed_or_was_refused_a_referral_and_the_review_is_audited(both):
    referral_id = a_referral_seen_by_some(both)

    found = entries(both, record=referral_id)
    done = {(e["actor"], e["action"]) for e in found["items"]}
    assert {("gp-1", "create"), ("adviser-1", "read"), ("snooper", "denied")} <= done
    assert found["total"] == len(found["items"])
    assert [e["occurred_at"] for e in found["items"]] == sorted((e["occurred_at"] for e in found["items"]),
                                                               reverse=True)
    snooper = next(e for e in found["items"] if e["actor"] == "snooper")
    assert snooper["actor_org"] == OTHER_ADVISERS and snooper["person_id"] is None  # a refusal names no person

    by_person = entries(both, person=referral_id)
    assert ("adviser-1", "read") in {(e["actor"], e["action"]) for e in by_person["items"]}
    reviews = entries(both, resource_type="audit_log", actor="admin-1")["items"]
    assert {(r["action"], r["resource_id"], r["person_id"]) for r in reviews} >= {
        ("list", referral_id, None), ("list", referral_id, referral_id)}  # by record, then by person

    only_reads = entries(both, record=referral_id, action="read")["items"]
    assert only_reads and {e["action"] for e in only_reads} == {"read"}
    # Each review is an entry about the record too (type audit_log): page through the referral's own.
    accesses = entries(both, record=referral_id, resource_type="referral")
    first = entries(both, record=referral_id, resource_type="referral", limit=1)
    second = entries(both, record=referral_id, resource_type="referral", limit=1, offset=1)
    assert first["total"] == accesses["total"] == 3
    assert first["items"] + second["items"] == accesses["items"][:2]


def test_the_summary_puts_refused_attempts_first(both):
    a_referral_seen_by_some(both)
    response = both.client.get("/audit/summary", headers=both.admin())
    assert response.status_code == 200, response.get_json()
    actors = response.get_json()["actors"]
    assert actors[0]["actor"] == "snooper" and actors[0]["refused"] == 1 and actors[0]["people"] == 0
    adviser = next(a for a in actors if a["actor"] == "adviser-1")
    assert adviser["refused"] == 0 and adviser["people"] == 1 and adviser["actor_org"] == ADVISERS


def test_an_organisations_admin_sees_only_what_its_staff_did(harness):
    referral_id = a_referral_seen_by_some(harness)
    mine = entries(harness, harness.token("org_admin", OTHER_ADVISERS, "ig-lead"), record=referral_id)
    assert {e["actor"] for e in mine["items"]} == {"snooper"}
    theirs = entries(harness, harness.token("org_admin", ADVISERS, "ig-lead-2"), record=referral_id)
    assert {e["actor"] for e in theirs["items"]} == {"adviser-1"}
    # An organisation's admin acting for no organisation sees nothing (not the entries that name none,
    # such as an alliance admin's): their token is refused at verification.
    assert harness.client.get(f"/referrals/{referral_id}", headers=harness.admin()).status_code == 200
    no_org = harness.client.get("/audit/entries", headers=harness.token("org_admin", None, "ig-lead-3"))
    assert no_org.status_code == 401 and no_org.mimetype == "application/problem+json"
    # Naming another organisation in the filter does not widen what an organisation's admin sees.
    assert entries(harness, harness.token("org_admin", OTHER_ADVISERS, "ig-lead"), actor_org=ADVISERS)["total"] == 0


@pytest.mark.parametrize("role, status", [("gp", 403), ("adviser", 403), ("resident", 403), (None, 401)])
def test_only_admins_review(harness, role, status):
    headers = harness.token(role, ADVISERS, "someone") if role else {}
    for path in ("/audit/entries", "/audit/summary"):
        response = harness.client.get(path, headers=headers)
        assert response.status_code == status and response.content_type == "application/problem+json"


@pytest.mark.parametrize("path, query, field", [
    ("/audit/entries", {"since": "yesterday"}, "since"),
    ("/audit/entries", {"since": "2026-11-20T00:00:00Z", "until": "2026-11-19T00:00:00Z"}, "until"),
    ("/audit/entries", {"action": "peek"}, "action"),
    ("/audit/entries", {"limit": "0"}, "limit"),
    ("/audit/entries", {"record": "x" * 65}, "record"),
    ("/audit/summary", {"since": "2026-09-01T00:00:00Z", "until": "2026-11-20T00:00:00Z"}, "since"),
    ("/audit/summary", {"since": "9999-12-31T00:00:00Z"}, "since"),  # after now, the period's end: was a 200
])
def test_bad_filters_are_a_problem_naming_the_field(harness, path, query, field):
    response = harness.client.get(path, query_string=query, headers=harness.admin())
    assert response.status_code == 422 and response.content_type == "application/problem+json"
    assert {"location": "query", "pointer": f"/{field}"} in [{k: e[k] for k in ("location", "pointer")}
                                                       for e in response.get_json()["errors"]]


@pytest.mark.parametrize("until", ["0001-01-01T00:00:01Z", "0001-01-07T23:59:59Z"])
def test_a_summary_up_to_the_first_days_of_the_calendar_is_empty_not_a_500(harness, until):
    """Its week before `until` went back past year 1: an OverflowError, a 500."""
    response = harness.client.get("/audit/summary", query_string={"until": until}, headers=harness.admin())
    assert response.status_code == 200 and response.get_json()["actors"] == []


def test_the_page_refuses_a_last_day_with_no_day_after_it(harness):
    """The page reads a period up to the end of its last day: 9999-12-31 has no next day (a 500)."""
    page = harness.client.get("/audit", query_string={"to_date": "9999-12-31"},
                              headers={**harness.admin(), "Accept": "text/html"})
    assert page.status_code == 400 and 'href="#to_date">Enter a date before 31 December 9999' in page.get_data(
        as_text=True)
    early = harness.client.get("/audit", query_string={"to_date": "0001-01-01"},
                               headers={**harness.admin(), "Accept": "text/html"})
    assert early.status_code == 200


def test_the_page_shows_the_review_and_explains_a_bad_date(harness):
    referral_id = a_referral_seen_by_some(harness)
    page = harness.client.get("/audit", query_string={"record": referral_id},
                              headers={**harness.admin(), "Accept": "text/html"})
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    html = page.get_data(as_text=True)
    assert "<h1>Audit trail</h1>" in html and "snooper" in html and "adviser-1" in html
    assert "entries</h2>" in html and "Who acted" in html

    bad = harness.client.get("/audit", query_string={"from_date": "20/11/2026"},
                             headers={**harness.admin(), "Accept": "text/html"})
    assert bad.status_code == 400
    assert 'href="#from_date">Enter a date as year-month-day' in bad.get_data(as_text=True)
    backwards = harness.client.get("/audit", query_string={"from_date": "2026-11-20", "to_date": "2026-11-19"},
                                   headers={**harness.admin(), "Accept": "text/html"})
    assert backwards.status_code == 400 and 'href="#to_date">Must be after' in backwards.get_data(as_text=True)


def test_a_person_asked_about_by_nhs_number_is_refused_and_the_number_kept_nowhere(harness):
    """Referrals names a person by their referral's id: an NHS number typed as the person matched nothing, was
    written as typed into the review's own entry (a trail that outlives the records, where no erasure looks)
    and, from the page's form, put in the address it redirected to."""
    referral_id = a_referral_seen_by_some(harness)
    for typed in ("9434765919", "943 476 5919", "943-476-5919"):
        asked = harness.client.get("/audit/entries", query_string={"person": typed}, headers=harness.admin())
        assert asked.status_code == 422 and [e["pointer"] for e in asked.get_json()["errors"]] == ["/person"]
        searched = harness.client.post("/audit/entries/search", json={"person": typed}, headers=harness.admin())
        assert searched.status_code == 422 and [e["pointer"] for e in searched.get_json()["errors"]] == ["/person"]
    harness.client.set_cookie("worklink_csrf", "t")
    posted = harness.client.post("/audit", data={"csrf_token": "t", "person": "943 476 5919", "action": "read"},
                                 headers={**harness.admin(), "Accept": "text/html"})
    assert posted.status_code == 400 and "Location" not in posted.headers
    assert 'href="#person">Enter the person' in posted.get_data(as_text=True)
    reviews = entries(harness, resource_type="audit_log", limit=500)["items"]
    assert not [r for r in reviews if "9434765919" in f"{r['resource_id']} {r['person_id']}"]
    assert entries(harness, person=referral_id)["total"] > 0  # a referral's id still serves


@pytest.mark.parametrize("moment, outside", [
    (datetime(2026, 11, 23, 8, 59, tzinfo=timezone.utc), False),  # Monday 08:59 GMT
    (datetime(2026, 11, 23, 6, 59, tzinfo=timezone.utc), True),   # before 07:00
    (datetime(2026, 11, 23, 19, 0, tzinfo=timezone.utc), True),   # from 19:00
    (datetime(2026, 7, 6, 18, 30, tzinfo=timezone.utc), True),    # 19:30 BST (summer time)
    (datetime(2026, 7, 6, 6, 30, tzinfo=timezone.utc), False),    # 07:30 BST
    (datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc), True),   # a Saturday
])
def test_out_of_hours_is_uk_time_and_weekends(moment, outside):
    assert out_of_hours(moment) is outside


def test_an_admin_filters_the_audit_page_in_a_browser(harness, page):
    from worklink.auth import mint_token
    from tests.browser import assert_accessible, live_server, sign_in, submit, width_at

    referral_id = a_referral_seen_by_some(harness)
    admin = mint_token(harness.settings.jwt, role="alliance_admin", subject="admin-1")
    with live_server(harness.app) as base:
        sign_in(page, base, admin, "/audit")
        assert page.get_by_role("heading", level=1).inner_text() == "Audit trail"
        assert page.get_by_role("link", name="Back to Referrals").get_attribute("href") == "/"  # the service home
        first_row = page.get_by_role("table").first.get_by_role("row").nth(1)
        assert first_row.get_by_role("cell").first.inner_text() == "snooper"  # refused attempts first
        assert_accessible(page)
        page.get_by_label("Record id", exact=True).fill(referral_id)
        page.get_by_label("Action").select_option("denied")
        submit(page, page.get_by_role("button", name="Show"))
        assert page.get_by_role("heading", level=2, name="1 entry").is_visible()
        assert width_at(page) <= 320  # both tables stack: the page does not scroll sideways
        assert_accessible(page)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.get_by_label("From (date)").fill("2026-11-20")
        page.get_by_label("To (date, included)").fill("2026-11-19")
        submit(page, page.get_by_role("button", name="Show"))
        assert page.get_by_role("link", name="Must be after the start of the period.").is_visible()
        assert_accessible(page)


@pytest.mark.parametrize("moment, shown", [
    (datetime(2026, 7, 6, 6, 30, tzinfo=timezone.utc), "6 Jul 2026, 07:30 BST"),  # in hours, though 06:30 UTC
    (datetime(2026, 7, 5, 23, 15, tzinfo=timezone.utc), "6 Jul 2026, 00:15 BST"),  # the next UK day
    (datetime(2026, 11, 23, 6, 59), "23 Nov 2026, 06:59 GMT"),  # SQLite gives stored moments back without a zone
])
def test_the_page_gives_times_in_uk_time_named(moment, shown):
    assert audit_time(moment) == shown


def test_the_pages_entries_are_in_uk_time_as_its_dates_and_out_of_hours_are(harness):
    referral_id = a_referral_seen_by_some(harness)
    first = entries(harness, record=referral_id)["items"][0]
    html = harness.client.get("/audit", query_string={"record": referral_id},
                              headers={**harness.admin(), "Accept": "text/html"}).get_data(as_text=True)
    assert "When (UK time)" in html and "UTC" not in html
    assert audit_time(datetime.fromisoformat(first["occurred_at"])) in html
