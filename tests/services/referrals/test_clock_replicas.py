"""Two replicas of the referrals clock job take turns on PostgreSQL: a pass waits for the other's to commit
before it reads anything, and dates what it publishes from after its wait, so a capacity change is published
once, never its later-read figures under an earlier time."""

from __future__ import annotations

import threading

from worklink_referrals import jobs
from worklink_referrals.config import ReferralSettings


def test_a_second_clock_pass_waits_for_the_first_to_commit(make_harness, postgres_url):
    h = make_harness(postgres_url)
    h.add_service()
    first = h.ctx.database.transaction()
    session = first.__enter__()
    jobs._one_pass_at_a_time(session)  # the first replica's pass, mid-way
    done = threading.Event()
    second = threading.Thread(target=lambda: (jobs.run_once(h.ctx.database, ReferralSettings()), done.set()))
    second.start()
    try:
        assert not done.wait(1.5), "the second pass ran while the first held the clock"
    finally:
        first.__exit__(None, None, None)
    second.join(30)
    assert done.is_set(), "the second pass never ran after the first committed"
