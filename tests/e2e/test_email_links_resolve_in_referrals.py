"""Notifications' e-mails to a resident link pages of the referrals site by referrals' own paths - the status page the
event names, its "Emails about your referral" section (links.STOP_EMAILS_SECTION) and the public page for a new link
(links.NEW_LINK_PAGE) - and the inbox links a referral's page (links.RECORDS). No test spanned both services, so a
page or section renamed in referrals would have broken them silently. Here the real referrals app takes a referral
in and accepts it; notifications routes the person messages it queued and renders their e-mails; every referrals
link in them must match the referrals app's URL map, open (200) through its test client as the person would (the
private link is all they need), and a fragment must name an element of that page."""

from __future__ import annotations

import json
import re
import uuid
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import HTTPException

from tests.services.notifications.support import sqlite_db  # noqa: F401 - a fixture
from tests.services.referrals.conftest import with_updates
from worklink.events.contracts.notifications import PersonMessageRequestedV1
from worklink_notifications import links, routing
from worklink_notifications.delivery import DeliverySettings, render_email
from worklink_notifications.models import Delivery

REFERRALS = "https://referrals.worklink.test"  # the referrals site as notifications' settings name it
KIM = {"given_name": "Kim", "family_name": "Lee", "nhs_number": "4010232137"}
PERSON_MESSAGE = "notifications.person_message.requested"
REFERRALS_LINK = re.compile(re.escape(REFERRALS) + r"(/[^\s\"'<>#]*)(?:#([A-Za-z][\w-]*))?")


class ElementIds(HTMLParser):
    def __init__(self, html: str):
        super().__init__()
        self.ids: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.ids.update(value for name, value in attrs if name == "id" and value)


@pytest.fixture()
def referrals(make_harness):
    harness = make_harness()
    harness.add_service()
    return harness


def person_messages(harness) -> list[SimpleNamespace]:
    """The person messages referrals queued for notifications (its outbox), as notifications' consumer hands them on."""
    outbox = harness.ctx.tables.outbox
    with harness.ctx.database.engine.connect() as connection:
        payloads = connection.execute(sa.select(outbox.c.payload).where(outbox.c.type == PERSON_MESSAGE)
                                      .order_by(outbox.c.position)).scalars().all()
    events = [json.loads(payload) for payload in payloads]
    return [SimpleNamespace(id=e["id"], type=e["type"], data=PersonMessageRequestedV1().load(e["data"])) for e in events]


def emails_for(database, events) -> dict[str, str]:
    """Each message code's e-mail, plain text and HTML, as notifications would send it."""
    with database.transaction() as session:
        for event in events:
            routing.request_person_message(session, event)
    settings = DeliverySettings(referrals_url=REFERRALS)
    with database.sessions() as session:
        deliveries = session.scalars(sa.select(Delivery).where(Delivery.recipient_kind == "person")).all()
        mails = {d.message_code: render_email(d, settings) for d in deliveries}
    return {code: mail.get_body(("plain",)).get_content() + mail.get_body(("html",)).get_content()
            for code, mail in mails.items()}


def test_every_referrals_link_in_a_residents_emails_opens_its_page_in_the_referrals_app(referrals, sqlite_db):
    created = referrals.client.post("/referrals", json=with_updates(KIM, email="kim@example.org"),
                                    headers=referrals.gp())
    assert created.status_code == 201, created.get_json()
    assert referrals.act(created.get_json()["id"], "accept", adviser_id="adviser-1").status_code == 200
    emails = emails_for(sqlite_db, person_messages(referrals))
    # The first carries the private link (its section to stop e-mails); the next sends to the page for a new one.
    assert set(emails) == {"referral_received", "referral_accepted"}

    found = {match for body in emails.values() for match in REFERRALS_LINK.findall(body)}
    assert (links.NEW_LINK_PAGE, "") in found
    assert links.STOP_EMAILS_SECTION in {fragment for _, fragment in found}
    routes = referrals.app.url_map.bind("worklink.test")
    for path, fragment in sorted(found):
        try:
            routes.match(path, method="GET")
        except HTTPException as missing:
            pytest.fail(f"the e-mails link {path}, which the referrals app does not serve: {missing!r}")
        page = referrals.app.test_client().get(path)  # a fresh browser: the person, not signed in
        assert page.status_code == 200, (path, page.status_code)
        if fragment:
            assert fragment in ElementIds(page.get_data(as_text=True)).ids, f"{path} has no #{fragment}"


def test_the_inboxs_referral_links_are_pages_of_the_referrals_app(referrals):
    routes = referrals.app.url_map.bind("worklink.test")
    paths = [path.format(uuid.uuid4()) for _, (_, site, path, _) in links.RECORDS if site == "referrals"]
    assert paths  # the inbox links a referral to its page
    for path in paths:
        endpoint, _ = routes.match(path, method="GET")
        assert not endpoint.startswith("static"), path
