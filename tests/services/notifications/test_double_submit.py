"""A form sent twice (a double click, a reload of its answer) reaches the server as two requests at once. On
PostgreSQL both read before either wrote: the second e-mail contact failed the table's unique key (a 500), and the
second webhook was made beside the first - the receiver sent every event twice, under two secrets, one of which
nobody was shown. Here the first request is held part-way (its row written, not committed) while the second
arrives, as when the two overlap; the second must wait for it and answer in words. SQLite runs one writer at a
time (BEGIN IMMEDIATE), so the race is PostgreSQL's alone."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from worklink.auth import Principal
from worklink_notifications import contacts, subscribers
from worklink_notifications.models import OrganisationContact, WebhookSubscriber
from worklink_notifications.schemas import ContactIn

pytestmark = pytest.mark.timeout(120)

ADVISERS = str(uuid.uuid4())
LEE = Principal(subject="lee", role="org_admin", organisation=ADVISERS)


@pytest.fixture()
def database_url(postgres_url):  # the race needs two writers at once: PostgreSQL's
    return postgres_url


def second_request_meanwhile(database, send) -> dict:
    """Start `send` (the second request) in a thread and return once it waits on a lock held by the caller's open
    transaction (the first request, part-way); the caller then commits and reads the answer from the dict."""
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.update(response=send()), daemon=True)
    thread.start()
    answer["thread"] = thread
    deadline = time.monotonic() + 15
    with database.sessions() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                             "AND wait_event_type = 'Lock'"))
            if waiting:
                return answer
            watcher.rollback()
            time.sleep(0.05)
    raise AssertionError("the second request never waited for the first")


def finished(answer: dict):
    answer["thread"].join(30)
    return answer["response"]


def test_a_contact_added_twice_at_once_is_one_contact_and_the_second_a_409_in_words(app, notifications_db, token):
    client, audit = app.test_client(), app.extensions["worklink"].audit
    body = {"email": "team@advisers.example", "purpose": "team"}
    with notifications_db.transaction() as first:
        contacts.add(first, audit, LEE, ADVISERS, ContactIn().load(body))
        answer = second_request_meanwhile(notifications_db, lambda: client.post(
            f"/organisations/{ADVISERS}/contacts", json=body, headers=token("org_admin", org=ADVISERS, sub="lee")))
    second = finished(answer)
    assert second.status_code == 409, second.get_data(as_text=True)  # was a 500: the unique key's IntegrityError
    assert second.mimetype == "application/problem+json"
    with notifications_db.sessions() as session:
        stored = session.scalars(sa.select(OrganisationContact.id)).all()
    assert [str(row) for row in stored] == [second.get_json()["contact_id"]]


def test_a_webhook_added_twice_at_once_is_one_webhook_and_the_second_a_409_naming_it(app, notifications_db, token):
    client, ctx = app.test_client(), app.extensions["worklink"]
    url = "https://crm.advisers.example/hooks"
    with notifications_db.transaction() as first:
        made, _ = subscribers.create(first, ctx.audit, LEE, app.config["WEBHOOK_SECRET_SEAL"], ADVISERS, url, [])
        answer = second_request_meanwhile(notifications_db, lambda: client.post(
            "/webhook-subscribers", json={"url": url}, headers=token("org_admin", org=ADVISERS, sub="lee")))
    second = finished(answer)
    assert second.status_code == 409, second.get_data(as_text=True)  # was a 201: a second subscriber
    assert second.mimetype == "application/problem+json" and "secret" not in second.get_json()
    assert second.get_json()["subscriber_id"] == str(made.id)
    assert [e["pointer"] for e in second.get_json()["errors"]] == ["/url"]
    with notifications_db.sessions() as session:
        assert session.scalars(sa.select(WebhookSubscriber.url)).all() == [url]
