"""A new status link a resident asked for (referrals' status_link_renewed, the old link having expired): notifications
takes the link with that message - it refused a status_link on any message but the first news of a referral, so the
new link was dead-lettered - and emails it to the address given, saying the old link no longer works."""

from __future__ import annotations

from types import SimpleNamespace

from tests.services.notifications.support import make_worker
from tests.services.notifications.test_person_link import LINK, received
from worklink.events.contracts import CATALOGUE
from worklink_notifications import routing
from worklink_notifications.events import PERSON_MESSAGE


def test_a_new_link_reaches_the_person_with_what_it_is(notifications_db, smtp_server, clock):
    renewed = received(message_code="status_link_renewed")
    CATALOGUE.build(PERSON_MESSAGE, renewed, source="urn:worklink:referrals")
    with notifications_db.transaction() as session:
        routing.request_person_message(session, SimpleNamespace(id="e1", type=PERSON_MESSAGE, data=renewed))
    make_worker(notifications_db, smtp_server, clock).run_once()
    [mail] = smtp_server.to("ada@example.org")
    text = " ".join(mail.get_body(("plain",)).get_content().split())
    assert mail["Subject"] == "Your new link to your referral"
    assert "Your old link no longer works" in text and f"http://127.0.0.1:8083{LINK}" in text
