"""The capacity summary (the clock job, every 5 minutes) reads every service's last figures in one query."""

from __future__ import annotations

import uuid

from tests.services.referrals.conftest import nhs_number
from tests.services.referrals.statements import selects, statements


def capacity_pass(h) -> tuple[int, list[str]]:
    from worklink_referrals import services
    with statements(h) as seen, h.ctx.database.transaction() as session:
        published = services.publish_capacity_changes(session, h.ctx.outbox, h.clock())
    return published, seen


def test_the_capacity_summary_reads_every_services_last_figures_in_one_query(harness):
    h = harness
    for n in range(4):  # five services in all, with the harness's
        h.add_service(uuid.UUID(int=0xC100 + n), areas=["GL1"])
    h.refer()
    published, first = capacity_pass(h)
    assert published == 5  # each service's figures, the first time
    published, again = capacity_pass(h)
    assert published == 0  # nothing changed: nothing sent again
    snapshot_reads = [s for s in selects(again) if "FROM capacity_snapshots" in s]
    assert len(snapshot_reads) == 1, snapshot_reads  # one for the five services, not one each
    h.clock.advance(minutes=5)
    h.refer({"nhs_number": nhs_number(1, 63), "given_name": "Other"})
    assert capacity_pass(h)[0] == 1  # the service the referral went to: its open caseload changed
