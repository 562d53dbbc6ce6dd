"""A repeat request for a new status link soon after one was emailed - or while it still waits for the new-links job -
sends no second email (REFERRALS_STATUS_LINK_REPEAT_MINUTES, 15): two requests in quick succession sent two emails,
each with a new link, the first dead before it was read. The requester's answer does not change: the request still
only leaves its waiting request, alike for a first request, a repeat and an address with no referral; the job
decides. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_status_link_expiry import gp_referral, harness_for, renewals
from tests.services.referrals.test_status_link_request_alike import seen, work_done
from worklink.config import ConfigError
from worklink_referrals.config import ReferralSettings
from worklink_referrals.jobs import send_new_links


def token_of(sent: dict) -> str:
    return sent["status_link"].rsplit("/", 1)[1]


def test_a_repeat_request_soon_after_sends_no_second_email_and_is_answered_alike(make_harness, database_url):
    h = harness_for(make_harness, database_url, self_referral_limit_contact=50)
    rid, _intake_link = gp_referral(h, email="ada@example.org")
    ask = {"api": lambda email: h.client.post("/status-links", json={"email": email}),
           "page": lambda email: post(h, "/new-link", {"email": email}, {})}
    for how in ("api", "page"):
        first, first_writes, first_reads = work_done(h, lambda: ask[how]("ada@example.org"))
        [sent] = renewals(h)[-1:]
        assert sent["referral_id"] == rid
        emailed = len(renewals(h))
        h.clock.advance(minutes=2)
        repeat, repeat_writes, repeat_reads = work_done(h, lambda: ask[how]("Ada@Example.org"))
        miss, miss_writes, miss_reads = work_done(h, lambda: ask[how]("nobody@example.org"))
        assert seen(repeat) == seen(first) == seen(miss) and first.status_code in (202, 303)
        assert repeat_writes == first_writes == miss_writes and repeat_reads == first_reads == miss_reads == 0
        assert len(renewals(h)) == emailed  # the job handled both requests: no second email
        assert send_new_links(h.ctx.database, h.clock.now) == 0
        assert h.client.get(f"/status/{token_of(sent)}").status_code == 200  # the emailed link still works
        h.clock.advance(minutes=15)  # the next round is a new request


def test_two_requests_waiting_together_send_one_email(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, _intake_link = gp_referral(h, email="ada@example.org")
    for _ in range(2):
        assert h.client.post("/status-links", json={"email": "ada@example.org"}).status_code == 202
    [sent] = renewals(h)
    assert sent["referral_id"] == rid and h.client.get(f"/status/{token_of(sent)}").status_code == 200
    assert send_new_links(h.ctx.database, h.clock.now) == 0  # both handled and forgotten


def test_a_request_made_while_the_first_still_waited_sends_none_even_past_the_window(make_harness, database_url):
    """The job was stopped for a while: a request 20 minutes after the first, both waiting, is still a repeat of
    the one emailed when the job comes back."""
    h = harness_for(make_harness, database_url)
    gp_referral(h, email="ada@example.org")
    h.client.post("/status-links", json={"email": "ada@example.org"})
    h.clock.advance(minutes=20)
    h.client.post("/status-links", json={"email": "ada@example.org"})
    h.clock.advance(minutes=10)
    assert len(renewals(h)) == 1


def test_a_request_after_the_window_sends_a_new_link_and_the_one_before_stops_working(make_harness, database_url):
    h = harness_for(make_harness, database_url)
    rid, _intake_link = gp_referral(h, email="ada@example.org")
    h.client.post("/status-links", json={"email": "ada@example.org"})
    [first] = renewals(h)
    h.clock.advance(minutes=14, seconds=59)
    h.client.post("/status-links", json={"email": "ada@example.org"})
    assert len(renewals(h)) == 1  # still within 15 minutes
    h.clock.advance(seconds=2)
    h.client.post("/status-links", json={"email": "ada@example.org"})
    [_, second] = renewals(h)
    assert second["referral_id"] == rid and token_of(second) != token_of(first)
    assert h.client.get(f"/status/{token_of(first)}").status_code == 404
    assert h.client.get(f"/status/{token_of(second)}").status_code == 200


def test_the_window_is_a_setting_and_0_sends_for_every_request(make_harness, database_url):
    h = harness_for(make_harness, database_url, status_link_repeat_minutes=0)
    gp_referral(h, email="ada@example.org")
    for _ in range(2):
        h.client.post("/status-links", json={"email": "ada@example.org"})
    assert len(renewals(h)) == 2
    h.client.post("/status-links", json={"email": "ada@example.org"})
    assert len(renewals(h)) == 3


def test_the_repeat_minutes_are_read_from_the_environment_and_refused_by_name_when_wrong():
    assert ReferralSettings.from_env({}).status_link_repeat_minutes == 15
    assert ReferralSettings.from_env({"REFERRALS_STATUS_LINK_REPEAT_MINUTES": "5"}).status_link_repeat_minutes == 5
    assert ReferralSettings.from_env({"REFERRALS_STATUS_LINK_REPEAT_MINUTES": "0"}).status_link_repeat_minutes == 0
    for wrong in ("fifteen", "-1"):
        with pytest.raises(ConfigError, match="REFERRALS_STATUS_LINK_REPEAT_MINUTES"):
            ReferralSettings.from_env({"REFERRALS_STATUS_LINK_REPEAT_MINUTES": wrong})
