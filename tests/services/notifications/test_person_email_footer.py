"""Every e-mail to a resident says who writes (WorkLink, what it is), why this address hears from us, and how
to stop: status e-mails on the person's status page ("Stop emails about my referral", referrals' section
#emails), linked when the message carries their private link, else how to get a new one (referrals' public
/new-link page). Through the real SMTP server, both parts."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from worklink_notifications import routing
from worklink_notifications.events import PERSON_MESSAGE
from tests.services.notifications.support import Clock, make_worker

REFERRALS = "http://127.0.0.1:8083"  # the referrals site outside production (make_worker's default)
LINK = "/my-referral/abcdefghijklmnopqrstuvwxyz012345"
SENDER = ("This email is from WorkLink, a partnership of local health, care, voluntary and council organisations "
          "that helps people get into or stay in work.")
STATUS_WHY = "because you agreed to emails about your referral for employment support when you were referred"


def send_to_person(database, smtp, address: str, **data):
    with database.transaction() as session:
        routing.request_person_message(session, SimpleNamespace(id=str(uuid.uuid4()), type=PERSON_MESSAGE, data={
            "message_id": uuid.uuid4(), "person_id": uuid.uuid4(), "consent_id": uuid.uuid4(),
            "contact": {"channel": "email", "address": address}, "referral_id": uuid.uuid4(),
            "requested_at": datetime.now(timezone.utc), **data}))
    make_worker(database, smtp, Clock(datetime.now(timezone.utc))).run_once()
    [mail] = smtp.to(address)
    return " ".join(mail.get_body(("plain",)).get_content().split()), mail.get_body(("html",)).get_content()


def test_a_status_email_without_the_private_link_says_who_why_and_how_to_get_the_link_to_stop(
        notifications_db, smtp_server):
    text, html = send_to_person(notifications_db, smtp_server, "ada@example.org", message_code="referral_accepted")
    assert SENDER in text and STATUS_WHY in text
    assert ('To stop emails about your referral, open the link to your referral\'s page from our first email and '
            'choose "Stop emails about my referral". If you do not have the link, get a new one: '
            f'{REFERRALS}/new-link') in text
    assert "Please do not reply to this email." in text
    assert SENDER in html and STATUS_WHY in html and "Stop emails about my referral" in html
    assert f'href="{REFERRALS}/new-link"' in html


def test_a_status_email_with_the_private_link_links_where_the_emails_stop(notifications_db, smtp_server):
    text, html = send_to_person(notifications_db, smtp_server, "bea@example.org", message_code="referral_received",
                                status_link=LINK)
    assert SENDER in text and STATUS_WHY in text
    assert ('To stop emails about your referral, open your referral\'s page and choose "Stop emails about my '
            f'referral": {REFERRALS}{LINK}#emails') in text
    assert "/new-link" not in text
    assert f'href="{REFERRALS}{LINK}#emails"' in html and "Stop emails about my referral" in html


@pytest.mark.parametrize("code, why, stop", [
    ("referral_closed", STATUS_WHY, "Your referral has closed, so we will not email you about it again."),
    ("self_referral_email_changed", "because this email address was given on a self-referral for employment support",
     "We will not email this address about that self-referral again."),
])
def test_messages_that_end_the_emails_say_so(notifications_db, smtp_server, code, why, stop):
    text, html = send_to_person(notifications_db, smtp_server, "cy@example.org", message_code=code)
    for part in (text, html):
        assert SENDER in part and why in part and stop in part


def test_the_one_time_code_email_says_who_and_why_and_that_nothing_else_follows(notifications_db, smtp_server):
    text, html = send_to_person(notifications_db, smtp_server, "sam@example.org", message_code="self_referral_code",
                                referral_id=None, verification_code="042917")
    assert "Your code: 042917" in text
    for part in (text, html):
        assert SENDER in part and "because you asked for a code on our website" in part
        assert "We will not email you again unless you ask us to." in part


def test_every_residents_message_has_its_own_why_and_how_to_stop():
    from worklink_notifications.messages import PERSON_MESSAGES, PERSON_WHY

    assert set(PERSON_WHY) == set(PERSON_MESSAGES)
