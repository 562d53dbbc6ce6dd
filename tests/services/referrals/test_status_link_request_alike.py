"""A request for a new status link (POST /status-links, the page /new-link) does the same work whether or not the
address has a referral: it counts the request against its limits and leaves one waiting request (the address's keyed
mailbox), reads no referral and writes nothing else; the new-links job renews and emails the links after. Before,
a match also locked and updated the referral and wrote its email and its audit entry within the request, so the
answer's time told anyone whether an email address has a referral. What can be observed is compared - the answer
(status, headers, body), every row written and every referral read - not the time, which would flake. On SQLite
and PostgreSQL."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.services.referrals.test_page_forms import post
from tests.services.referrals.test_status_link_expiry import gp_referral, harness_for, renewals
from worklink_referrals.jobs import send_new_links

_WRITE = re.compile(r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)", re.I)
_READS_REFERRALS = re.compile(r"^\s*SELECT\b.*\bFROM referrals\b", re.I | re.S)


def work_done(h, ask) -> tuple[object, list[tuple[str, str]], int]:
    """`ask()`'s answer, the (statement, table) of each row-writing statement it ran in order, and how many
    statements read the referrals table."""
    writes, referral_reads = [], []

    def record(conn, cursor, statement, parameters, context, executemany):
        if written := _WRITE.match(statement):
            writes.append((written.group(1).split()[0].upper(), written.group(2)))
        elif _READS_REFERRALS.match(statement):
            referral_reads.append(statement)
    engine = h.ctx.database.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        answer = ask()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return answer, writes, len(referral_reads)


def seen(answer) -> tuple:
    headers = {name: value for name, value in answer.headers.items() if name.lower() != "x-request-id"}  # one per request
    return answer.status_code, headers, answer.get_data()


def test_a_match_and_a_miss_answer_alike_and_write_the_same_rows(make_harness, database_url):
    h = harness_for(make_harness, database_url, self_referral_limit_contact=50)
    rid, _token = gp_referral(h, email="ada@example.org")
    for ask in (lambda email: h.client.post("/status-links", json={"email": email}),
                lambda email: post(h, "/new-link", {"email": email}, {})):
        miss, miss_writes, miss_reads = work_done(h, lambda: ask("nobody@example.org"))
        match, match_writes, match_reads = work_done(h, lambda: ask("ada@example.org"))
        assert seen(match) == seen(miss) and match.status_code in (202, 303)
        assert match_writes == miss_writes and ("INSERT", "status_link_requests") in match_writes
        assert not {table for _, table in match_writes} & {"referrals", "outbox", "audit_log"}
        assert match_reads == miss_reads == 0
    # The job does the rest: the match's new link is emailed, and nothing for the miss - once: the page's request
    # came moments after the API's (test_status_link_repeat).
    assert [sent["referral_id"] for sent in renewals(h)] == [rid]
    assert send_new_links(h.ctx.database, h.clock.now) == 0  # each request handled once, then forgotten
