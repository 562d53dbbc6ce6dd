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
