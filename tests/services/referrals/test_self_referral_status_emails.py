"""A self-referrer is asked whether we may email them updates, and only a yes sends any: the answer is recorded with
when and how it was given, and the person stops or starts them on their status page (stopping as easily as
starting, and as thoroughly as a withdrawal of consent stops them). Found by the audit of 27 November: status
emails followed the verified address, and nobody was asked."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa

from tests.services.referrals.conftest import referral_row_before, referrals_table_before
from tests.services.referrals.test_api import audit_rows, outbox_payloads
from tests.services.referrals.test_page_forms import page, post
from worklink_referrals.models import PendingSelfReferral, Referral

FORM = {"given_name": "Sam", "family_name": "Jones", "birth_date-day": "2", "birth_date-month": "1",
        "birth_date-year": "1990", "postcode": "GL1 1AA", "email": "sam@example.org",
        "employment_situation": "unemployed", "consent": "yes"}
MESSAGES = "notifications.person_message.requested"
REVOKED = "notifications.person_messages.revoked"
BEFORE_0018 = referrals_table_before(uuids=("consent_id",))  # the referrals table as revision 0017 left it


def refer_myself(h, emails: str | None) -> tuple[str, str]:
    """Through the form: (the pending id, the status page's address)."""
    answer = {"updates_by_email": emails} if emails else {}
    started = post(h, "/refer-yourself", {**FORM, **answer}, {})
    assert started.status_code == 303, started.get_data(as_text=True)[:300]
    pending = started.headers["Location"].split("/")[2]
    code = re.search(r'id="dev-code"[^>]*>(\d{6})<', page(h, started.headers["Location"], {})).group(1)
    verified = post(h, f"/refer-yourself/{pending}/code", {"code": code}, {})
    assert verified.status_code == 303, verified.get_data(as_text=True)[:300]
    return pending, verified.headers["Location"].split("?")[0]


def stored(h) -> Referral:
    with h.ctx.database.sessions() as session:
        return session.scalars(sa.select(Referral).order_by(Referral.submitted_at.desc())).first()


def referral_news(h) -> list[dict]:
    return [m for m in outbox_payloads(h, MESSAGES) if m["message_code"] != "self_referral_code"]


def test_the_form_asks_and_refuses_no_answer(harness):
    h = harness
    html = page(h, "/refer-yourself", {})
    assert "Can we email you updates about your referral?" in html
    group = re.search(r'<fieldset(?:(?!<fieldset).)*?Can we email you updates.*?</fieldset>', html, re.S).group(0)
    assert re.findall(r'value="(\w+)"', group) == ["yes", "no"]
    assert " checked" not in group  # nothing chosen for them
    refused = post(h, "/refer-yourself", FORM, {})
    assert refused.status_code == 422
    assert ('<a href="#updates_by_email">Select yes if we can email you updates about your referral</a>'
            in refused.get_data(as_text=True))
    with h.ctx.database.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PendingSelfReferral)) == 0


def test_the_api_needs_the_answer_too(harness):
    body = {"person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                       "email": "sam@example.org"}, "consent": {"explicit": True}, "employment_situation": "unemployed"}
    refused = harness.client.post("/self-referrals", json=body)
    assert refused.status_code == 422
    assert "/consent/updates_by_email" in {e.get("pointer") for e in refused.get_json()["errors"]}


def test_no_means_no_status_email_and_the_answer_is_recorded(harness):
    h = harness
    answered_at = h.clock.now
    _, status_page = refer_myself(h, "no")
    referral = stored(h)
    assert (referral.person_updates, referral.person_updates_how, referral.updates_consent_id) == (
        False, "self_referral_form", None)
    assert referral.person_updates_at.replace(tzinfo=timezone.utc) == answered_at
    rid = str(referral.id)
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    assert referral_news(h) == []  # the code went (they asked for it); nothing about the referral
    assert h.client.get(status_page.replace("/my-referral/", "/status/")).get_json()["updates_by_email"] is False
    html = page(h, status_page, {})
    assert "We do not email you about your referral" in html and "Email me updates about my referral" in html


def test_yes_sends_them_under_a_consent_the_person_can_stop_and_give_again(harness):
    h = harness
    _, status_page = refer_myself(h, "yes")
    referral = stored(h)
    rid, first = str(referral.id), referral.updates_consent_id
    assert (referral.person_updates, referral.person_updates_how, first) == (True, "self_referral_form",
                                                                              referral.consent_id)
    assert [m["message_code"] for m in referral_news(h)] == ["referral_received"]

    stopped = post(h, status_page + "/emails", {"updates_by_email": "no"}, {})
    assert stopped.status_code == 303 and stopped.headers["Location"] == status_page + "?done=emails_stopped"
    assert [m["consent_id"] for m in outbox_payloads(h, REVOKED)] == [str(first)]  # what notifications holds stops
    after = stored(h)
    assert (after.person_updates, after.person_updates_how) == (False, "status_page")
    news_before = referral_news(h)
    h.act(rid, "accept", adviser_id="adviser-1")
    assert referral_news(h) == news_before  # nothing more
    assert "We will not email you updates" in page(h, stopped.headers["Location"], {})

    started = post(h, status_page + "/emails", {"updates_by_email": "yes"}, {})
    assert started.headers["Location"] == status_page + "?done=emails_started"
    again = stored(h).updates_consent_id
    assert again not in (None, first)  # a new consent: the revoked one is never sent under again
    h.act(rid, "make_first_contact")
    assert post(h, status_page + "/emails", {"updates_by_email": "yes"}, {}).headers["Location"] == status_page
    actions = [(a.actor, a.action) for a in audit_rows(h, resource_id=rid) if a.actor.startswith("person-link")]
    assert actions.count((f"person-link:{rid}", "update")) == 3


def test_stopping_drops_the_unsent_news_and_later_news_goes_under_the_new_consent(harness):
    h = harness
    _, status_page = refer_myself(h, "yes")
    rid = str(stored(h).id)
    h.act(rid, "accept", adviser_id="adviser-1")  # "accepted" waits in the outbox (no relay runs here)
    assert [m["message_code"] for m in referral_news(h)] == ["referral_received", "referral_accepted"]
    post(h, status_page + "/emails", {"updates_by_email": "no"}, {})
    assert referral_news(h) == []  # unsent: dropped, the person's address with them
    post(h, status_page + "/emails", {"updates_by_email": "yes"}, {})
    h.act(rid, "cancel", headers=h.admin(), reason="other", text="Moved away")
    (closed,) = referral_news(h)
    assert closed["message_code"] == "referral_closed"
    assert closed["consent_id"] == str(stored(h).updates_consent_id)


def test_the_status_link_api_stops_and_starts_them_as_the_page_does(harness):
    h = harness
    _, status_page = refer_myself(h, "yes")
    api = status_page.replace("/my-referral/", "/status/") + "/emails"
    first = stored(h).updates_consent_id
    stopped = h.client.post(api, json={"updates_by_email": False})
    assert stopped.status_code == 200 and stopped.get_json()["updates_by_email"] is False
    assert [m["consent_id"] for m in outbox_payloads(h, REVOKED)] == [str(first)]
    assert h.client.post(api, json={}).status_code == 422
    started = h.client.post(api, json={"updates_by_email": True})
    assert started.get_json()["updates_by_email"] is True and stored(h).updates_consent_id != first
    assert stored(h).person_updates_how == "status_page"


def test_a_self_referral_waiting_from_before_the_question_keeps_its_emails(harness):
    """Started before the form asked (its record holds no answer), verified after: as it would have been then."""
    h = harness
    pending = h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "email": "sam@example.org"},
        "consent": {"explicit": True, "updates_by_email": False}, "employment_situation": "unemployed"}).get_json()
    with h.ctx.database.transaction() as session:
        row = session.get(PendingSelfReferral, uuid.UUID(pending["id"]))
        row.payload = {**row.payload, "consent": {"explicit": True}}  # as the code before this change stored it
    verified = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    assert verified.status_code == 201
    referral = stored(h)
    assert (referral.person_updates, referral.person_updates_how) == (True, "not_asked")
    assert [m["message_code"] for m in referral_news(h)] == ["referral_received"]


def test_the_email_choice_is_offered_only_while_consent_stands(harness):
    h = harness
    _, status_page = refer_myself(h, "yes")
    assert "Stop emails about my referral" in page(h, status_page, {})
    post(h, status_page + "/cancel", {"withdraw_consent": "yes"}, {})
    html = page(h, status_page, {})
    assert "Stop emails about my referral" not in html and "Email me updates" not in html
    refused = post(h, status_page + "/emails", {"updates_by_email": "yes"}, {})
    assert refused.status_code == 409 and stored(h).person_updates is True  # consent withdrawn: still nothing goes
    assert post(h, status_page + "/emails", {}, {}).status_code == 422


def test_the_answer_given_before_0018_is_kept_as_recorded(database_url):
    """The migration records what was recorded: a referrer's answer came with the referral's consent; a
    self-referrer's was never asked, and their emails stay on (they can stop them on their page now)."""
    from worklink.migrations import upgrade
    from worklink.service import get_service

    migrations = get_service("referrals").migrations_dir
    upgrade(migrations, database_url, "referrals_0017")
    engine = sa.create_engine(database_url)
    at = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)
    rows = {"self": (uuid.uuid4(), uuid.uuid4(), True), "gp": (uuid.uuid4(), uuid.uuid4(), False)}
    try:
        with engine.begin() as conn:
            conn.execute(BEFORE_0018.insert(), [
                referral_row_before(rid, f"R-{source.upper()}", at, source=source, consent_id=consent,
                                    consent_method="online", person_updates=updates)
                for source, (rid, consent, updates) in rows.items()])
        upgrade(migrations, database_url, "referrals_0018")
        after = sa.table("referrals", sa.column("source", sa.String()), sa.column("person_updates_how", sa.String()),
                         sa.column("person_updates_at", sa.DateTime(timezone=True)),
                         sa.column("updates_consent_id", sa.Uuid()))
        with engine.connect() as conn:
            found = {source: conn.execute(sa.select(after.c.person_updates_how, after.c.person_updates_at,
                                                    after.c.updates_consent_id).where(after.c.source == source)).one()
                     for source in rows}
        assert found["self"][0] == "not_asked" and found["gp"][0] == "with_consent"
        assert all(found[source][1] is not None for source in rows)  # the consent's time
        assert found["self"][2] == rows["self"][1] and found["gp"][2] is None
    finally:
        engine.dispose()
