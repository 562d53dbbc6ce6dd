"""What a referred person hears, and when: the real referrals app takes the referral in and, as the adviser
acts, asks notifications (restricted person-message event, through its outbox and relay, on real Kafka) to
email the person, who agreed to status emails; the notifications consumer and delivery worker send it to a
real SMTP server. The first email comes when the referral is taken in, with the private status link; the
email and the status page link to the directory's public page of the service the referral is with."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from worklink.config import KafkaSettings
from worklink.messaging import kafka
from worklink.messaging.outbox import Outbox, OutboxRelay
from worklink_notifications.models import Delivery
from worklink_referrals.config import ReferralSettings
from tests.browser import assert_accessible, live_server
from tests.services.notifications.support import (Clock, catalogue_on, make_consumer, make_worker,  # noqa: F401
                                                  notifications_db, smtp_server)
from tests.services.referrals.conftest import SERVICE, referral_body, with_updates

pytestmark = pytest.mark.timeout(300)

DIRECTORY = "http://127.0.0.1:8081"  # the directory's address, as the worker's and the referrals app's settings say
SERVICE_PAGE = f"{DIRECTORY}/find/services/{SERVICE}"
KIM = {"given_name": "Kim", "family_name": "Lee", "nhs_number": "4010232137"}


class Journey:
    """The referrals harness with its outbox on a test topic, and notifications reading that topic and mailing."""

    def __init__(self, make_harness, kafka_broker, new_topic, notifications_db, smtp_server):
        bootstrap = kafka_broker.bootstrap_servers
        catalogue = catalogue_on(new_topic(partitions=3))
        self.referrals = make_harness(referral_settings=ReferralSettings(expose_codes=True, directory_url=DIRECTORY))
        self.referrals.add_service()
        self.referrals.ctx.outbox = Outbox("referrals", self.referrals.ctx.tables, catalogue)
        self.relay = OutboxRelay("referrals", self.referrals.ctx.database, self.referrals.ctx.tables,
                                 lambda: kafka.producer(KafkaSettings(bootstrap), "test-relay"))
        self.consumer = make_consumer(notifications_db, bootstrap, catalogue)
        self.notifications, self.smtp = notifications_db, smtp_server

    def refer(self, body) -> str:
        created = self.referrals.client.post("/referrals", json=body, headers=self.referrals.gp())
        assert created.status_code == 201, created.get_json()
        return created.get_json()["id"]

    def act(self, rid: str, action: str, **data) -> None:
        done = self.referrals.act(rid, action, **data)
        assert done.status_code == 200, done.get_json()

    def deliver(self) -> None:
        """Relay what referrals asked for, let notifications take every person message in, send what is due."""
        expected = self._person_deliveries() + self._person_messages_to_relay()
        self.relay.publish_pending()
        deadline = time.monotonic() + 90  # a group joining a new topic can wait for a metadata refresh (30 s)
        while self._person_deliveries() < expected and time.monotonic() < deadline:
            self.consumer.poll_once(timeout_ms=500)
        assert self._person_deliveries() == expected, "notifications did not catch up"
        make_worker(self.notifications, self.smtp, Clock(datetime.now(timezone.utc))).run_once()

    def _person_messages_to_relay(self) -> int:
        outbox = self.referrals.ctx.tables.outbox
        with self.referrals.ctx.database.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
                outbox.c.type == "notifications.person_message.requested", outbox.c.sent_at.is_(None))).scalar_one()

    def _person_deliveries(self) -> int:
        with self.notifications.transaction() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                                  .where(Delivery.recipient_kind == "person"))

    def subjects(self, address: str) -> list[str]:
        return [mail["Subject"] for mail in self.smtp.to(address)]

    def close(self) -> None:
        self.consumer.close()
        self.relay.close()


@pytest.fixture()
def journey(make_harness, kafka_broker, new_topic, notifications_db, smtp_server):
    journey = Journey(make_harness, kafka_broker, new_topic, notifications_db, smtp_server)
    yield journey
    journey.close()


def test_a_referral_taken_in_sends_one_received_email_with_the_status_link_and_the_services_page(journey, page):
    journey.refer(with_updates(KIM, email="kim@example.org"))
    # Bea's GP has her email but she did not agree to status emails: she hears nothing.
    journey.refer(referral_body({"given_name": "Bea", "nhs_number": "9434765919", "email": "bea@example.org"}))
    journey.deliver()

    [mail] = journey.smtp.to("kim@example.org")
    assert mail["Subject"] == "We have your referral"
    text, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    assert SERVICE_PAGE in text and f'href="{SERVICE_PAGE}"' in html
    # Once to open it, once more in the footer to its "Stop emails about my referral" (#emails): one link.
    [link] = set(re.findall(r"http://127\.0\.0\.1:8083(/my-referral/[A-Za-z0-9_-]+)", text))
    assert f"http://127.0.0.1:8083{link}#emails" in text
    assert journey.smtp.to("bea@example.org") == []

    # The link in the email is the person's page, and it names the service by linking its directory page.
    with live_server(journey.referrals.app) as base:
        page.goto(base + link)
        assert page.get_by_role("heading", level=1).inner_text().startswith("Your referral R-")
        assert page.get_by_role("link", name="this employment support service").get_attribute("href") == SERVICE_PAGE
        assert_accessible(page)
    status = journey.referrals.client.get(link.replace("/my-referral/", "/status/")).get_json()
    assert status["service_page"] == SERVICE_PAGE


def test_acknowledging_and_accepting_at_once_sends_one_accepted_email(journey):
    """The adviser acknowledges, then accepts with an adviser seconds later; another accepts straight away
    (acknowledging it too). "Accepted" already says an adviser will contact them: one email each."""
    kim = journey.refer(with_updates(KIM, email="kim@example.org"))
    ann = journey.refer(with_updates({"given_name": "Ann", "nhs_number": "9434765919"}, email="ann@example.org"))
    journey.deliver()
    journey.act(kim, "acknowledge")
    journey.act(kim, "accept", adviser_id="adviser-1")
    journey.act(ann, "accept", claim=True)
    journey.deliver()
    for address in ("kim@example.org", "ann@example.org"):
        assert journey.subjects(address) == ["We have your referral", "Your referral was accepted"], address
    [accepted] = journey.smtp.to("kim@example.org")[1:]
    assert SERVICE_PAGE in accepted.get_body(("plain",)).get_content()
    assert "/my-referral/" not in accepted.get_body(("plain",)).get_content()  # the link came once, first


def test_an_adviser_allocated_off_the_waiting_list_is_news_once(journey):
    """Accepted onto a waiting list, an adviser named days later is news; a change of adviser after that is
    not; the end is told."""
    kim = journey.refer(with_updates(KIM, email="kim@example.org"))
    journey.deliver()
    journey.act(kim, "accept")  # waitlisted
    journey.deliver()
    journey.referrals.clock.advance(days=2)
    journey.act(kim, "assign", adviser_id="adviser-1")
    journey.deliver()
    journey.referrals.signs_in("adviser-2")  # a colleague assigns only an adviser the service knows
    journey.act(kim, "assign", adviser_id="adviser-2")
    journey.act(kim, "cancel", headers=journey.referrals.admin(), reason="person_withdrew")
    journey.deliver()
    assert journey.subjects("kim@example.org") == [
        "We have your referral", "Your referral was accepted", "An adviser will contact you",
        "Your referral has closed"]


def test_an_adviser_named_soon_after_acceptance_is_not_a_second_email(journey):
    kim = journey.refer(with_updates(KIM, email="kim@example.org"))
    journey.deliver()
    journey.act(kim, "accept")
    journey.referrals.clock.advance(minutes=50)
    journey.act(kim, "assign", claim=True)
    journey.deliver()
    assert journey.subjects("kim@example.org") == ["We have your referral", "Your referral was accepted"]


def test_a_self_referrer_hears_only_while_they_want_to_and_can_start_again(journey):
    """The form asks whether we may email updates; the person stops them on their page (notifications is told
    to stop what it holds under that consent, and never sends under it again) and starts them again later, under
    a consent of its own, so the news after that reaches them."""
    h = journey.referrals
    h.client.set_cookie("worklink_csrf", "t0ken")
    form = {"csrf_token": "t0ken", "given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
            "postcode": "GL1 1AA", "email": "sam@example.org", "employment_situation": "unemployed",
            "consent": "yes", "updates_by_email": "yes"}
    code_page = h.client.post("/refer-yourself", data=form).headers["Location"]
    code = re.search(r'id="dev-code"[^>]*>(\d{6})<', h.client.get(code_page).get_data(as_text=True)).group(1)
    status_page = h.client.post(code_page, data={"csrf_token": "t0ken", "code": code}).headers["Location"].split("?")[0]
    rid = h.client.get("/referrals", headers=h.adviser()).get_json()["items"][0]["id"]
    journey.deliver()
    assert journey.subjects("sam@example.org") == ["Your WorkLink code", "We have your referral"]

    h.client.post(status_page + "/emails", data={"csrf_token": "t0ken", "updates_by_email": "no"})
    journey.act(rid, "accept", adviser_id="adviser-1")  # no news asked for
    h.client.post(status_page + "/emails", data={"csrf_token": "t0ken", "updates_by_email": "yes"})
    journey.act(rid, "cancel", headers=h.admin(), reason="person_withdrew")
    journey.deliver()  # the revocation is read before the news after it (same topic and key)
    assert journey.subjects("sam@example.org") == ["Your WorkLink code", "We have your referral",
                                                   "Your referral has closed"]


def test_a_changed_self_referral_address_is_told_to_the_old_one_without_the_code(journey):
    """The next user of a shared computer can reopen a waiting self-referral's code page from the browser's history
    and have its code sent to themselves: the owner of the address it had hears of it, with no code in it."""
    h = journey.referrals
    h.client.set_cookie("worklink_csrf", "t0ken")
    form = {"csrf_token": "t0ken", "given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
            "postcode": "GL1 1AA", "email": "sam@example.org", "employment_situation": "unemployed",
            "consent": "yes", "updates_by_email": "yes"}
    code_page = h.client.post("/refer-yourself", data=form).headers["Location"]
    changed = h.client.post(code_page.replace("/code", "/email"),
                            data={"csrf_token": "t0ken", "email": "someone.else@example.net"})
    assert changed.status_code == 303, changed.get_data(as_text=True)
    journey.deliver()

    assert journey.subjects("sam@example.org") == ["Your WorkLink code", "Your WorkLink email address was changed"]
    assert journey.subjects("someone.else@example.net") == ["Your WorkLink code"]
    notice = journey.smtp.to("sam@example.org")[1]
    text, html = notice.get_body(("plain",)).get_content(), notice.get_body(("html",)).get_content()
    assert "was changed" in text and "If you did not change it" in text and "was changed" in html
    assert not re.search(r"\d{6}", text + html) and "someone.else" not in text + html  # no code, no new address
