"""A person's status link stops working REFERRALS_STATUS_LINK_DAYS_AFTER_END (90) days after the referral ends, and
REFERRALS_STATUS_LINK_MAX_DAYS (365) after it was made whatever the referral's state; before, it worked until the
erasure, years on, so a forwarded or leaked link showed someone's referral all that time. An expired link gets the
answer an unknown one gets (404, nothing about the referral), saying how to get a new link: POST /status-links (the
page /new-link) emails one to the address held for the referral, never the one typed, with the same answer whether
or not anything matched, limited as self-referral starts are. On SQLite and PostgreSQL (times stored without zone
on SQLite)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from tests.services.referrals.test_api import audit_rows, outbox_payloads
from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_status_email_answer_shown import self_referred
from tests.services.referrals.conftest import (nhs_number, referral_body, referral_row_before, referrals_table_before,
                                               with_updates)
from worklink.config import ConfigError
from worklink_referrals.config import ReferralSettings
from worklink_referrals.jobs import send_new_links

MESSAGES = "notifications.person_message.requested"
HTML = {"Accept": "text/html"}
UNKNOWN = "x" * 32


def harness_for(make_harness, database_url, **settings):
    h = make_harness(database_url, referral_settings=ReferralSettings(expose_codes=True, **settings))
    h.add_service()
    return h


def gp_referral(h, email="ada@example.org", **person) -> tuple[str, str]:
    """A GP's referral whose person agreed to status emails: (id, their link's token, as emailed)."""
    made = h.client.post("/referrals", json=with_updates({"email": email, **person}), headers=h.gp())
    assert made.status_code == 201, made.get_json()
    rid = made.get_json()["id"]
    return rid, h.person_link(rid).rsplit("/", 1)[1]


def renewals(h) -> list[dict]:
    """The new links emailed, once the new-links job has handled the requests waiting (it looks every 5 seconds)."""
    send_new_links(h.ctx.database, h.clock.now, h.app.extensions["referrals"]["settings"])
    return [m for m in outbox_payloads(h, MESSAGES) if m["message_code"] == "status_link_renewed"]


def main_of(html: str) -> str:
    return re.search(r"<main.*?</main>", html, re.S).group(0)


def test_the_link_stops_working_90_days_after_the_referral_ends(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, token = gp_referral(h)
    h.clock.advance(days=200)  # open: still works (under the 365-day maximum)
    assert h.client.get(f"/status/{token}").status_code == 200
    assert h.client.post(f"/status/{token}/cancel", json={}).get_json()["status"] == "cancelled"
    h.clock.advance(days=89, hours=23)
    assert h.client.get(f"/status/{token}").status_code == 200
    assert "Your referral" in h.client.get(f"/my-referral/{token}", headers=HTML).get_data(as_text=True)
    h.clock.advance(hours=1)
    expired, unknown = h.client.get(f"/status/{token}"), h.client.get(f"/status/{UNKNOWN}")
    assert expired.status_code == unknown.status_code == 404 and expired.mimetype == "application/problem+json"
    assert expired.get_json()["detail"] == unknown.get_json()["detail"]
    assert "POST /status-links" in expired.get_json()["detail"]
    # Nor does anything else the link did: no cancel, no change of emails.
    assert h.client.post(f"/status/{token}/emails", json={"updates_by_email": False}).status_code == 404
    assert post(h, f"/my-referral/{token}/cancel", {"withdraw_consent": "yes"}, {}).status_code == 404
    assert h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["consent"]["withdrawn_at"] is None


def test_an_expired_link_gets_the_page_an_unknown_one_gets_and_is_audited_as_refused(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, token = gp_referral(h)
    reference = h.client.get(f"/status/{token}").get_json()["reference"]
    h.client.post(f"/status/{token}/cancel", json={})
    h.clock.advance(days=91)
    expired = h.client.get(f"/my-referral/{token}", headers=HTML)
    unknown = h.client.get(f"/my-referral/{UNKNOWN}", headers=HTML)
    assert expired.status_code == unknown.status_code == 404 and expired.mimetype == "text/html"
    html = expired.get_data(as_text=True)
    assert main_of(html) == main_of(unknown.get_data(as_text=True))
    assert "This link does not work" in html and 'href="/new-link"' in html
    assert reference not in html and "Ada" not in html and "cancel" not in main_of(html).lower()
    refused = [(row.actor, row.purpose) for row in audit_rows(h, resource_id=rid, action="denied")]
    assert refused == [(f"person-link:{rid}", "status link expired")]
    assert not audit_rows(h, resource_id=UNKNOWN)


def test_the_link_stops_working_after_its_maximum_age_while_the_referral_is_open(make_harness, database_url):
    h = harness_for(make_harness, database_url, status_link_max_days=30, status_link_days_after_end=10)
    _rid, token = gp_referral(h)
    h.clock.advance(days=29, hours=23)
    assert h.client.get(f"/status/{token}").get_json()["status"] == "submitted"
    h.clock.advance(hours=1)
    assert h.client.get(f"/status/{token}").status_code == 404


def test_a_new_link_goes_to_the_address_held_and_the_old_one_stops_working(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, old = gp_referral(h, email="Ada.Lovelace@Example.org")
    h.client.post(f"/status/{old}/cancel", json={})
    h.clock.advance(days=120)
    assert h.client.get(f"/status/{old}").status_code == 404
    asked = h.client.post("/status-links", json={"email": "ada.lovelace+x@example.ORG"})  # the same mailbox
    assert asked.status_code == 202
    [sent] = renewals(h)
    assert sent["contact"] == {"channel": "email", "address": "Ada.Lovelace@Example.org"}  # as held, not as typed
    assert sent["referral_id"] == rid and sent["status_link"].startswith("/my-referral/")
    new = sent["status_link"].rsplit("/", 1)[1]
    assert h.client.get(f"/status/{new}").get_json()["status"] == "cancelled"  # 90 days from the new link
    assert h.client.get(f"/status/{old}").status_code == 404
    assert [row.purpose for row in audit_rows(h, resource_id=rid, action="update")][-1] == "new status link emailed"
    h.clock.advance(days=89)
    assert h.client.get(f"/status/{new}").status_code == 200
    # A second renewal: the link before it stops working too.
    h.client.post("/status-links", json={"email": "ada.lovelace@example.org"})
    newest = renewals(h)[-1]["status_link"].rsplit("/", 1)[1]
    assert h.client.get(f"/status/{new}").status_code == 404 and h.client.get(f"/status/{newest}").status_code == 200


def test_the_answer_is_the_same_whether_or_not_the_address_matched(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    gp_referral(h, email="ada@example.org")
    # Referrals with no link of the person's at that address: a GP's patient who did not agree to emails (never
    # given a link), and one who withdrew consent.
    no_link = referral_body({"email": "bea@example.org", "given_name": "Bea", "nhs_number": nhs_number(1)})
    assert h.client.post("/referrals", json=no_link, headers=h.gp()).status_code == 201
    _rid, token = gp_referral(h, email="cy@example.org", given_name="Cy", nhs_number=nhs_number(2))
    h.client.post(f"/status/{token}/cancel", json={"withdraw_consent": True})
    before = len(outbox_payloads(h, MESSAGES))
    answers = [h.client.post("/status-links", json={"email": email})
               for email in ("nobody@example.org", "bea@example.org", "cy@example.org")]
    assert send_new_links(h.ctx.database, h.clock.now) == 3
    assert len(outbox_payloads(h, MESSAGES)) == before  # nothing sent
    matched = h.client.post("/status-links", json={"email": "ada@example.org"})
    assert len(renewals(h)) == 1
    assert {(a.status_code, a.get_data(as_text=True)) for a in [*answers, matched]} == {
        (202, matched.get_data(as_text=True))}
    pages = {post(h, "/new-link", {"email": email}, {}).headers["Location"]
             for email in ("nobody@example.org", "ada@example.org")}
    assert pages == {"/new-link/sent"}
    sent_page = h.client.get("/new-link/sent", headers=HTML).get_data(as_text=True)
    assert "Check your email" in sent_page and "ada@" not in sent_page


def test_a_self_referrer_gets_a_new_link_at_the_verified_address_even_after_stopping_emails(make_harness,
                                                                                          database_url):
    h = harness_for(make_harness, database_url)
    rid, old = self_referred(h)
    h.client.post(f"/status/{old}/emails", json={"updates_by_email": False})
    revoked = outbox_payloads(h, "notifications.person_messages.revoked")[-1]["consent_id"]
    h.client.post("/status-links", json={"email": "sam@example.org"})
    [sent] = renewals(h)
    # A consent of its own: notifications never sends under the revoked one.
    assert sent["contact"]["address"] == "sam@example.org" and sent["consent_id"] != revoked
    assert h.client.get(f"/status/{old}").status_code == 404


def test_requests_are_limited_as_self_referral_starts_are_whether_or_not_they_match(make_harness, database_url):
    h = harness_for(make_harness, database_url, self_referral_limit_contact=2, self_referral_window_seconds=3600)
    gp_referral(h)
    for email in ("ada@example.org", "nobody@example.org"):
        assert [h.client.post("/status-links", json={"email": email}).status_code for _ in range(3)] == [202, 202, 429]
    refused = h.client.post("/status-links", json={"email": "ADA@example.org"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"
    assert len(renewals(h)) == 1  # the second a moment after the first: no second email (test_status_link_repeat)
    page = post(h, "/new-link", {"email": "nobody@example.org"}, {})
    assert page.status_code == 429 and "Try again in 60 minutes" in page.get_data(as_text=True)


def test_the_page_asks_again_for_an_address_that_is_not_one(harness):
    refused = post(harness, "/new-link", {"email": "not an address"}, {})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Enter the email address you gave, like name@example.com" in html and 'value="not an address"' in html
    assert "Enter your email address" in post(harness, "/new-link", {"email": " "}, {}).get_data(as_text=True)
    assert harness.client.post("/status-links", json={"email": "nope"}).status_code == 422


def test_the_periods_are_settings_refused_by_name_when_wrong():
    defaults = ReferralSettings.from_env({})
    assert (defaults.status_link_days_after_end, defaults.status_link_max_days) == (90, 365)
    chosen = ReferralSettings.from_env({"REFERRALS_STATUS_LINK_DAYS_AFTER_END": "30",
                                        "REFERRALS_STATUS_LINK_MAX_DAYS": "180"})
    assert (chosen.status_link_days_after_end, chosen.status_link_max_days) == (30, 180)
    for name, value in (("REFERRALS_STATUS_LINK_DAYS_AFTER_END", "ninety"), ("REFERRALS_STATUS_LINK_MAX_DAYS", "0"),
                        ("REFERRALS_STATUS_LINK_MAX_DAYS", "-5")):
        with pytest.raises(ConfigError, match=name):
            ReferralSettings.from_env({name: value})


def test_the_migration_dates_links_made_before_it(database_url):
    """A link made before 0021 was sent with the first email, or failing that made at intake."""
    from worklink.migrations import upgrade
    from worklink.service import get_service

    migrations = get_service("referrals").migrations_dir
    upgrade(migrations, database_url, "referrals_0020")
    engine = sa.create_engine(database_url)
    submitted, told = (datetime(2026, 1, 5, 9, tzinfo=timezone.utc), datetime(2026, 2, 1, 9, tzinfo=timezone.utc))
    referrals = referrals_table_before(moments=("received_message_at",), texts=("status_link_hash",))
    rows = {"told": (uuid.uuid4(), told, "a" * 64), "untold": (uuid.uuid4(), None, "b" * 64),
            "erased": (uuid.uuid4(), None, None)}
    try:
        with engine.begin() as conn:
            conn.execute(referrals.insert(), [
                referral_row_before(rid, f"R-{name[:6].upper()}", submitted, person_updates=received is not None,
                                    received_message_at=received, status_link_hash=link)
                for name, (rid, received, link) in rows.items()])
        upgrade(migrations, database_url, "referrals_0021")
        after = sa.table("referrals", sa.column("id", sa.Uuid()),
                         sa.column("status_link_issued_at", sa.DateTime(timezone=True)))
        with engine.connect() as conn:
            issued = {name: conn.execute(sa.select(after.c.status_link_issued_at).where(after.c.id == rid)).scalar()
                      for name, (rid, _r, _l) in rows.items()}
        as_utc = {name: value and (value if value.tzinfo else value.replace(tzinfo=timezone.utc))
                  for name, value in issued.items()}
        assert as_utc == {"told": told, "untold": submitted, "erased": None}
    finally:
        engine.dispose()


@pytest.mark.parametrize("variable", ["REFERRALS_STATUS_LINK_DAYS_AFTER_END", "REFERRALS_STATUS_LINK_MAX_DAYS"])
def test_the_web_app_will_not_start_with_a_period_that_is_not_one(variable, tmp_path):
    from tests.platform.test_production_start import own_settings, refused, start

    settings = {**own_settings("referrals", tmp_path), "REFERRALS_PERSON_KEY": "k" * 40, variable: "90 days"}
    refused(start(["serve", "-s", "referrals", "-b", "127.0.0.1:1"], tmp_path, **settings), variable)
