"""The services' demo data describe one world: referrals' demo referrals are routed to listings the demo
directory publishes (same ids, organisation, terms, areas and ages), and notifications' demo contacts are
that organisation's. (`tests/test_up.py` checks a referral routed through Kafka; this checks the seeds.)"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from worklink.config import Settings
from worklink.db import Database
from worklink_directory import demo as directory_demo
from worklink_referrals import seed as referrals_seed
from worklink_referrals.models import Referral, RoutingService, RoutingServiceArea, RoutingServiceTerm


def listings_by_id() -> dict[str, dict]:
    return {record["id"]: record for record in directory_demo.demo_records()}


def test_referrals_demo_routes_to_the_demo_directorys_employment_advisers(tmp_path):
    settings = Settings.from_env("referrals", {"WORKLINK_VAR": str(tmp_path)})
    referrals_seed.load_demo_data(settings)
    listings, staff = listings_by_id(), directory_demo.organisation_id(directory_demo.STAFF_DEMO_ORGANISATION)
    database = Database(settings.database_url)
    try:
        with database.transaction() as session:
            routed = session.scalars(sa.select(RoutingService)).all()
            assert routed
            for service in routed:
                listing = listings[str(service.service_id)]  # a listing the directory publishes
                assert str(service.organization_id) == listing["organization_id"] == staff
                terms = set(session.scalars(sa.select(RoutingServiceTerm.term_id).where(
                    RoutingServiceTerm.service_id == service.service_id)))
                assert terms == {uuid.UUID(a["taxonomy_term_id"]) for a in listing["attributes"]}
                areas = set(session.scalars(sa.select(RoutingServiceArea.area_code).where(
                    RoutingServiceArea.service_id == service.service_id)))
                assert areas == set(listing["service_areas"][0]["x_postcode_districts"])
                assert service.minimum_age == listing.get("minimum_age")
            referrals = session.scalars(sa.select(Referral)).all()
            assert {r.service_id for r in referrals} == {s.service_id for s in routed}
            assert {r.assigned_org_id for r in referrals} == {staff}
            assert {r.referrer_org_id for r in referrals} == {str(referrals_seed.DEMO_PRACTICE)}
    finally:
        database.dispose()


def test_notifications_demo_contacts_are_the_demo_organisations():
    from worklink_adjustments.seed import DEMO_PRACTICE as ADJUSTMENTS_PRACTICE
    from worklink_notifications import seed as notifications_seed

    assert notifications_seed.DEMO_ADVISERS == str(referrals_seed.DEMO_ADVISERS) == directory_demo.organisation_id(
        directory_demo.STAFF_DEMO_ORGANISATION)
    assert notifications_seed.DEMO_PRACTICE == str(referrals_seed.DEMO_PRACTICE) == str(ADJUSTMENTS_PRACTICE)


def test_the_demo_names_its_people_and_organisations_as_their_tokens_would(tmp_path):
    """Staff of one organisation read another's by name ("Dr Demo Clinician (GP) at Demo Surgery"), never by id:
    the demo's actors, and the sign-in commands the seeds print, carry the `name` and `org_name` claims."""
    from worklink import demo
    from worklink_referrals import services

    settings = Settings.from_env("referrals", {"WORKLINK_VAR": str(tmp_path)})
    report = referrals_seed.load_demo_data(settings)
    assert f"--org-name '{demo.STAFF_DEMO_ORGANISATION}'" in report and "--name 'Demo Adviser'" in report
    assert "--org-name 'Demo Surgery'" in demo.GP_TOKEN_COMMAND and "--name 'Dr Demo Clinician'" in demo.GP_TOKEN_COMMAND
    staff = directory_demo.organisation_id(directory_demo.STAFF_DEMO_ORGANISATION)
    database = Database(settings.database_url)
    try:
        with database.transaction() as session:
            assert services.organisation_names(session, [staff]) == {staff: demo.STAFF_DEMO_ORGANISATION}
            assert set(session.execute(sa.select(Referral.referrer_name, Referral.referrer_org_name))) == {
                ("Dr Demo Clinician", "Demo Surgery")}
    finally:
        database.dispose()
