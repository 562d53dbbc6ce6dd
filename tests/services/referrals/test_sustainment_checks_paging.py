"""GET /sustainment-checks is paged: an alliance has thousands of checks due."""

from __future__ import annotations

from tests.services.referrals.statements import job_starts


def test_due_sustainment_checks_come_a_page_at_a_time_with_the_total_and_the_next_page(harness):
    h = harness
    ids = job_starts(h, 3)
    h.clock.advance(weeks=27)  # both checks of each are due: 6 in all
    everything = h.client.get("/sustainment-checks", headers=h.admin())
    assert everything.headers["X-Total-Count"] == "6" and "Link" not in everything.headers
    assert [(c["referral_id"], c["weeks"]) for c in everything.get_json()] == sorted(
        ((rid, weeks) for rid in ids for weeks in (13, 26)), key=lambda c: (c[1], c[0]))  # soonest due first

    first = h.client.get("/sustainment-checks?limit=4", headers=h.admin())
    assert len(first.get_json()) == 4 and first.headers["X-Total-Count"] == "6"
    assert first.headers["Link"] == '</sustainment-checks?limit=4&offset=4>; rel="next"'
    second = h.client.get("/sustainment-checks?limit=4&offset=4", headers=h.admin())
    assert first.get_json() + second.get_json() == everything.get_json() and "Link" not in second.headers

    too_many = h.client.get("/sustainment-checks?limit=201", headers=h.admin())
    assert too_many.status_code == 422 and too_many.content_type == "application/problem+json"
