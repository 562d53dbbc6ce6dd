"""Every route of the directory, against the audit rule (tests/audit_walk.py): the directory holds services and
organisations, never a person's record, so each route says so - and a new route must say it too, or name the
record it reaches and be audited."""

from __future__ import annotations

from tests.audit_walk import unsorted_routes
from worklink.config import Settings
from worklink.migrations import upgrade
from worklink.service import get_service

LISTINGS = "services and organisations (Open Referral UK), no person's record"
PARTNER = "an organisation's own service listings, no person's record"

OTHER_ROUTES = {
    **{f"GET oruk.{view}": LISTINGS for view in (
        "ApiRoot", "Services", "ServiceById", "ServiceAtLocations", "ServiceAtLocationById", "Taxonomies",
        "TaxonomyById", "TaxonomyTerms", "TaxonomyTermById")},
    "GET directory_pages.find": LISTINGS,
    "GET directory_pages.service_page": LISTINGS,
    "POST manage.Organizations": PARTNER,
    "POST manage.ManageServices": PARTNER,
    "GET manage.ManageService": PARTNER,
    "PATCH manage.ManageService": PARTNER,
    "POST manage.AssureService": PARTNER,
    "GET manage.ServiceMetadata": PARTNER,
    "POST manage.WithdrawService": PARTNER,
    "GET directory_pages.partner.partner_home": PARTNER,
    **{f"{method} directory_pages.partner.{view}": PARTNER for method in ("GET", "POST") for view in (
        "partner_new", "partner_edit", "partner_part", "partner_part_remove", "partner_withdraw")},
}


def test_every_route_is_sorted_and_none_reaches_a_persons_record(tmp_path):
    spec = get_service("directory")
    settings = Settings.from_env("directory", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_ENV": "test",
                                               "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    upgrade(spec.migrations_dir, settings.database_url)
    assert unsorted_routes(spec.create_app(settings=settings), {}, OTHER_ROUTES) == []
