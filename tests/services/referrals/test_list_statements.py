"""A page of a list (the queue, /sent) costs the same few statements however long the list: one audit INSERT for the
page's entries, and no read of what a list does not show (contact attempts, notes)."""

from __future__ import annotations

import sqlalchemy as sa

from tests.services.referrals.statements import statements, worked_referrals


def audit_inserts(seen: list[str]) -> list[str]:
    return [s for s in seen if s.upper().startswith("INSERT INTO AUDIT_LOG")]


def listed_entries(h) -> list[tuple[str, str]]:
    table = h.ctx.tables.audit_log
    with h.ctx.database.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(table.c.resource_id, table.c.actor)
                                                   .where(table.c.action == "list").order_by(table.c.id))]


def test_a_listed_page_is_audited_in_one_statement_an_entry_per_referral(harness):
    h = harness
    ids = worked_referrals(h, 3)
    h.clock.advance(weeks=13)  # the job start's 13-week check is due
    html = {"Accept": "text/html"}
    lists = (("/referrals?view=all", h.adviser(), ids), ("/queue?view=all", {**h.adviser(), **html}, ids),
             ("/sent", {**h.gp(), **html}, ids), ("/sustainment-checks", h.adviser(), ids[1:2]))
    for path, headers, listed in lists:
        before = len(listed_entries(h))
        with statements(h) as seen:
            assert h.client.get(path, headers=headers).status_code == 200
        # One INSERT for the page, where there was one per referral listed.
        assert len(audit_inserts(seen)) == 1, (path, audit_inserts(seen))
        assert sorted(rid for rid, _ in listed_entries(h)[before:]) == sorted(listed), path


def test_a_queue_page_reads_the_history_it_shows_not_the_attempts_and_notes_it_does_not(harness):
    h = harness
    ids = worked_referrals(h, 3)
    h.clock.advance(days=30)
    html = {"Accept": "text/html"}
    for path, headers in (("/referrals?view=all", h.adviser()), ("/referrals?view=breaching", h.adviser()),
                          ("/queue?view=mine", {**h.adviser(), **html}), ("/sent", {**h.gp(), **html})):
        with statements(h) as seen:
            response = h.client.get(path, headers=headers)
        assert response.status_code == 200
        assert not [s for s in seen if " FROM notes" in s or " FROM contact_attempts" in s], path
    listed = h.client.get("/referrals?view=all", headers=h.adviser()).get_json()["items"]
    assert sorted(item["id"] for item in listed) == sorted(ids)
    assert all(item["breached_clocks"] == [] for item in listed)  # acknowledged and met within the day
    sent = h.client.get("/sent", headers={**h.gp(), **html}).get_data(as_text=True)
    assert sent.count("None yet") == 2  # the outcome types are still listed: one job start, two without any
