"""The queue and /sent pages are paged (NHS.UK pagination), the page and the count come from SQL,
and the newest referral is always reachable: /sent and the queue's "All" list newest first."""

from __future__ import annotations

import re

import sqlalchemy as sa

from worklink_referrals.pages.views import PAGE_SIZE
from tests.services.referrals.conftest import nhs_number
from tests.services.referrals.statements import statements

HTML = {"Accept": "text/html"}


def refer_many(h, count):
    """`count` referrals a minute apart, P000 the oldest."""
    references = []
    for i in range(count):
        h.clock.advance(minutes=1)
        created = h.refer({"given_name": f"P{i:03d}", "nhs_number": nhs_number(i, 91)})
        assert created.status_code == 201, created.get_json()
        references.append(created.get_json()["reference"])
    return references


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/queue/[0-9a-f-]{36}"[^>]*>([A-Z0-9-]+)</a>', html)


def test_sent_and_the_queue_are_paged_and_the_newest_is_reachable(harness):
    h = harness
    references = refer_many(h, PAGE_SIZE + 3)
    newest, oldest = references[-1], references[0]

    sent = h.client.get("/sent", headers={**h.gp(), **HTML}).get_data(as_text=True)
    assert listed(sent) == references[::-1][:PAGE_SIZE]  # newest first
    assert f"{PAGE_SIZE + 3} referrals" in sent and 'class="nhsuk-pagination"' in sent
    assert 'href="/sent?page=2" rel="next"' in sent and 'rel="prev"' not in sent
    second = h.client.get("/sent?page=2", headers={**h.gp(), **HTML}).get_data(as_text=True)
    assert listed(second) == references[::-1][PAGE_SIZE:] and oldest in listed(second)
    assert 'href="/sent?page=1" rel="prev"' in second and 'rel="next"' not in second

    everything = h.client.get("/queue?view=all", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert listed(everything)[0] == newest and len(listed(everything)) == PAGE_SIZE
    new = h.client.get("/queue?view=new", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert listed(new)[0] == oldest  # the work lists: longest waiting first
    assert 'href="/queue?view=new&amp;page=2" rel="next"' in new
    last = h.client.get("/queue?view=new&page=2", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert listed(last)[-1] == newest and "Showing referrals 51 to 53 of 53" in last

    beyond = h.client.get("/queue?view=new&page=9", headers={**h.adviser(), **HTML})
    assert beyond.status_code == 200 and "no referrals on this page" in beyond.get_data(as_text=True)
    assert listed(h.client.get("/queue?view=new&page=x", headers={**h.adviser(), **HTML}).get_data(
        as_text=True))[0] == oldest  # not a number: the first page


def test_a_page_reads_only_its_own_rows_and_counts_in_sql(both):
    """On SQLite and PostgreSQL."""
    h = both
    refer_many(h, PAGE_SIZE + 3)
    with statements(h) as seen:
        assert h.client.get("/sent?page=2", headers={**h.gp(), **HTML}).status_code == 200
    listing = [s for s in seen if "FROM referrals" in s and "LIMIT" in s.upper()]
    assert listing, seen
    assert any("count(" in s.lower() for s in seen)
    # Only the page's rows are audited as listed: 3 on the second page.
    with h.ctx.database.transaction() as session:
        lists = session.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'list'")).scalar()
    assert lists == 3


def test_only_the_current_filter_is_marked_and_named(harness):
    h = harness
    refer_many(h, 1)
    html = h.client.get("/queue?view=waitlist", headers={**h.adviser(), **HTML}).get_data(as_text=True)
    assert re.findall(r'<a href="/queue\?view=(\w+)" aria-current="page">', html) == ["waitlist"]
    assert '<h2 id="list-heading">Waitlist</h2>' in html
    assert "<title>Waitlist – Referral queue" in html
    assert 'a[aria-current="page"]' in html  # styled: bold, underlined with a bar, not a plain link
