"""A suggestion a GP replaced by a newer one: adjustments publishes adjustments.suggestion.withdrawn with reason
`replaced` and the newer one's id (superseded_by_id). The practice is told it was replaced - inbox, e-mail and
webhook - and the inbox links the newer suggestion; a suggestion withdrawn for any other reason still says
withdrawn. SQLite and PostgreSQL; real SMTP and webhook receivers."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import sqlalchemy as sa

from tests.browser import sealed
from tests.services.notifications.test_delivery import add, all_deliveries, subscriber_for
from tests.services.notifications.support import make_worker, sample_data
from worklink.auth import mint_token
from worklink.events.contracts.adjustments import SuggestionWithdrawnV1
from worklink.web.pages import SESSION_COOKIE
from worklink_notifications import routing
from worklink_notifications.models import Delivery, OrganisationContact, RoutingRule

PRACTICE = str(uuid.uuid4())
GP_TEAM = "team@practice.example"


def withdrawn(database, reason: str, superseded_by_id: uuid.UUID | None) -> SimpleNamespace:
    """The event as adjustments publishes it (services._supersede, end_as_withdrawn), checked by its contract."""
    data = sample_data(SuggestionWithdrawnV1, practice_id=uuid.UUID(PRACTICE), reason=reason, superseded_by_id=superseded_by_id)
    event = SimpleNamespace(id=str(uuid.uuid4()), type="adjustments.suggestion.withdrawn",
                            data=SuggestionWithdrawnV1().load(SuggestionWithdrawnV1().dump(data)))
    with database.transaction() as session:
        routing.route_event(session, event)
    return event


def tell_the_practice_everywhere(database, receiver) -> None:
    """The default rule tells the practice's inbox; an alliance may add e-mail and webhooks to it."""
    with database.transaction() as session:
        session.execute(sa.update(RoutingRule).where(RoutingRule.event_type == "adjustments.suggestion.withdrawn")
                        .values(channels="inbox,email,webhook"))
    add(database, OrganisationContact(organisation_id=PRACTICE, purpose="team", email=GP_TEAM))
    subscriber_for(database, receiver, organisation=PRACTICE)


def test_a_replaced_suggestion_is_said_replaced_everywhere_and_links_the_new_one(
        app, notifications_db, smtp_server, webhook_receiver, clock):
    tell_the_practice_everywhere(notifications_db, webhook_receiver)
    newer = uuid.uuid4()
    replaced = withdrawn(notifications_db, "replaced", newer)
    clock.now = datetime.now(timezone.utc)  # the receiver checks the signature's time against its own clock
    make_worker(notifications_db, smtp_server, clock).run_once()

    [mail] = smtp_server.to(GP_TEAM)
    assert mail["Subject"] == "Suggestion replaced"
    assert "An adjustment suggestion from your practice was replaced by a newer suggestion." \
        in mail.get_body(("plain",)).get_content()
    assert "withdrawn" not in mail.get_body(("plain",)).get_content() + mail.get_body(("html",)).get_content()
    [hook] = webhook_receiver.accepted
    assert hook["body"]["message_code"] == "suggestion_replaced"
    assert hook["body"]["data"]["superseded_by_id"] == str(newer)
    assert hook["body"]["data"]["suggestion_id"] == str(replaced.data["suggestion_id"])

    gp = mint_token(app.extensions["worklink"].settings.jwt, role="gp", org=PRACTICE, subject="gp-1")
    [item] = app.test_client().get("/inbox?scope=organisation",
                                   headers={"Authorization": f"Bearer {gp}"}).get_json()["items"]
    assert (item["title"], item["message_code"]) == ("Suggestion replaced", "suggestion_replaced")
    assert item["facts"]["superseded_by_id"] == str(newer)
    browser = app.test_client()
    browser.set_cookie(SESSION_COOKIE, sealed(app, gp))
    page = browser.get("/messages?scope=organisation").get_data(as_text=True)
    assert f'/review/{newer}">Open the new suggestion' in page
    assert f"/review/{replaced.data['suggestion_id']}" not in page


def test_a_suggestion_withdrawn_for_another_reason_still_says_withdrawn(notifications_db, smtp_server,
                                                                        webhook_receiver, clock):
    tell_the_practice_everywhere(notifications_db, webhook_receiver)
    withdrawn(notifications_db, "issued_in_error", None)
    clock.now = datetime.now(timezone.utc)
    make_worker(notifications_db, smtp_server, clock).run_once()
    assert [mail["Subject"] for mail in smtp_server.to(GP_TEAM)] == ["Suggestion withdrawn"]
    assert [hook["body"]["message_code"] for hook in webhook_receiver.accepted] == ["suggestion_withdrawn"]
    assert {d.message_code for d in all_deliveries(notifications_db, Delivery.channel == "inbox")} == {
        "suggestion_withdrawn"}


def test_e_mails_queued_before_the_variant_say_replaced_when_they_go(database_url, smtp_server):
    """notifications_0023 rewrote inbox items only: an e-mail queued before messages.VARIANTS (immediate, or waiting
    for a daily digest), stored as suggestion_withdrawn with the fact reason 'replaced', said "Suggestion withdrawn"
    when the worker sent it after the upgrade. It is worded when it goes, from its facts."""
    from worklink.db import Database
    from worklink.migrations import upgrade
    from tests.services.notifications.support import SPEC, Clock

    upgrade(SPEC.migrations_dir, database_url, "notifications_0022")
    database = Database(database_url)
    now, daily = datetime(2026, 11, 27, 17, 30, tzinfo=timezone.utc), "daily@practice.example"  # 17:30 GMT

    def contact(email: str, frequency: str) -> dict:
        return dict(id=uuid.uuid4(), organisation_id=PRACTICE, purpose="team", email=email, frequency=frequency,
                    created_at=now)

    # The contact table as this revision has it: the model's later columns (version, notifications_0026) and
    # their defaults are not there yet.
    contacts = sa.table("organisation_contact", *(sa.column(name, OrganisationContact.__table__.c[name].type)
                                                  for name in contact("", "")))

    def queued(to: dict, status: str, reason: str) -> dict:
        return dict(id=uuid.uuid4(), event_id=str(uuid.uuid4()), event_source="adjustments",
                    event_type="adjustments.suggestion.withdrawn", recipient_kind="contact",
                    recipient_id=str(to["id"]), channel="email", message_code="suggestion_withdrawn",
                    facts={"suggestion_id": str(uuid.uuid4()), "reason": reason}, address=to["email"], status=status,
                    attempts=0, next_attempt_at=now if status == "pending" else None, created_at=now)

    team, digest = contact(GP_TEAM, "immediate"), contact(daily, "daily")
    try:
        with database.transaction() as session:  # core inserts: only the columns this revision has
            session.execute(sa.insert(contacts), [team, digest])
            session.execute(sa.insert(Delivery.__table__), [
                queued(team, "pending", "replaced"), queued(digest, "digest", "replaced"),
                queued(digest, "digest", "issued_in_error")])
        upgrade(SPEC.migrations_dir, database_url)
        worker = make_worker(database, smtp_server, Clock(now), digest_hour=17)
        worker.run_once()
        worker.run_digests()
    finally:
        database.dispose()

    [mail] = smtp_server.to(GP_TEAM)
    assert mail["Subject"] == "Suggestion replaced"
    assert "withdrawn" not in mail.get_body(("plain",)).get_content() + mail.get_body(("html",)).get_content()
    [summary] = smtp_server.to(daily)
    text = summary.get_body(("plain",)).get_content()
    assert (text.count("Suggestion replaced"), text.count("replaced by a newer suggestion")) == (1, 1)
    assert text.count("Suggestion withdrawn") == 1  # the one withdrawn in error still says so
