"""worklink.sites: where another service's pages are, for a link to them."""

from __future__ import annotations

from worklink.sites import site_url


def test_sites_default_to_the_local_ones_outside_production_only():
    assert site_url({}, "ADJUSTMENTS_REFERRALS_URL", "referrals", "development") == "http://127.0.0.1:8083"
    assert site_url({"REFERRALS_PORT": "9083"}, "X_URL", "referrals", "test") == "http://127.0.0.1:9083"
    assert site_url({}, "ADJUSTMENTS_REFERRALS_URL", "referrals", "production") == ""
    assert site_url({"ADJUSTMENTS_REFERRALS_URL": "https://r.example/"}, "ADJUSTMENTS_REFERRALS_URL", "referrals",
                    "production") == "https://r.example"
