"""bench/directory.py's break-even share of cache hits: the mix it names runs at the target, not above or below."""

from __future__ import annotations

import pytest

from bench.directory import hits_needed, hits_needed_line


@pytest.mark.parametrize("cached, built", [(0.524, 0.125), (0.453, 0.065), (0.30, 0.20)])
def test_the_share_of_hits_named_makes_the_mix_run_at_the_target(cached, built):
    share = hits_needed(cached, built, 0.25)
    assert 0 < share < 1
    mixed = 1 / (share / cached + (1 - share) / built)  # the saturated server's rate on that mix
    assert mixed == pytest.approx(0.25)
    assert 1 / ((share - 0.05) / cached + (1.05 - share) / built) < 0.25  # fewer hits: short of it


def test_no_cache_needed_when_built_answers_meet_it_and_none_enough_when_kept_ones_do_not():
    assert hits_needed(0.6, 0.3, 0.25) == 0.0
    assert hits_needed(0.2, 0.1, 0.25) is None
    assert "no share of cache hits" in hits_needed_line("search", 0.2, 0.1)
    assert "at least 66% of reads" in hits_needed_line("search", 0.524, 0.125)
