"""Demo data (clearly fictional people): referrals in every stage from the demo practice, routed to two of the
demo directory's specialist employment advice listings in Somerset.

Run by `worklink seed`. Only the routing read model is written directly (it is normally fed by
the directory's events): the listings as the directory publishes them (`worklink.demo`: the same ids,
organisation, terms, areas and ages), so the demo's referrals are with the organisation whose advisers
and partner staff the other services' demo data name. Every referral goes through the same use cases as
the API, so its history, outbox events and clocks are real.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from worklink import demo
from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.migrations import upgrade_service_database
from worklink.messaging.outbox import Outbox
from worklink_referrals import services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.domain import Actor
from worklink_referrals.models import PLATFORM, Referral, RoutingService

DEMO_PRACTICE = demo.DEMO_PRACTICE
DEMO_ADVISERS = uuid.UUID(demo.organisation_id(demo.STAFF_DEMO_ORGANISATION))
# (town, its postcode districts): the directory's listing there serves those districts, from age 16.
DEMO_TOWNS = (("Taunton", ("TA1", "TA2")), ("Bridgwater", ("TA6",)))
DEMO_SERVICE, DEMO_SERVICE_2 = (demo.employment_advice_service_id(town) for town, _ in DEMO_TOWNS)
LISTING_MINIMUM_AGE = 16
# The demo adviser the referrals are assigned to, as their sign-in (demo.adviser_token_command) names them: on the
# organisation's roster from the start, so the demo's referral pages name them and offer them for assigning.
DEMO_ADVISER = Actor("demo-adviser", "adviser", str(DEMO_ADVISERS), name="Demo Adviser",
                     organisation_name=demo.STAFF_DEMO_ORGANISATION)

PEOPLE = [  # (given, family, birth, postcode, decile, situation)
    ("Demo-Alex", "Example", date(1980, 3, 1), "TA1 2AB", 2, "off_sick_fit_note"),
    ("Demo-Sam", "Example", date(1992, 7, 9), "TA1 4XY", 1, "unemployed"),
    ("Demo-Jo", "Sample", date(1975, 11, 20), "TA6 1AA", 8, "in_work_at_risk"),
    ("Demo-Ruth", "Sample", date(1968, 5, 5), "TA2 0AA", 4, "economically_inactive"),
    ("Demo-Lee", "Test", date(2001, 1, 15), "TA2 6BB", 3, "unemployed"),
    ("Demo-Pat", "Test", date(1988, 9, 30), "TA6 9CC", 6, "off_sick_fit_note"),
]
# The steps each demo referral is taken through (by the adviser of the service it was routed to).
JOURNEYS = [
    [],
    [("acknowledge", {})],
    [("accept", {"adviser_id": "demo-adviser"}), ("record_contact_attempt", {"channel": "phone", "result": "no_answer"})],
    [("accept", {"adviser_id": "demo-adviser"}), ("make_first_contact", {}),
     ("update_progress", {"business_status": "job_search"})],
    [("accept", {"adviser_id": "demo-adviser"}), ("make_first_contact", {}),
     ("record_outcome", {"type": "job_start", "hours_band": "16_to_29"}), ("complete", {"end_reason": "goals_met"})],
    [("reject", {"reason": "out_of_area"})],
]


def load_demo_data(settings: Settings) -> str:
    upgrade_service_database(__import__("worklink_referrals").SERVICE.migrations_dir, settings)
    database = Database(settings.database_url)
    outbox, config = Outbox("referrals", PLATFORM, CATALOGUE), ReferralSettings()
    now = datetime.now(timezone.utc)
    with database.transaction() as session:
        services.remember_adviser(session, DEMO_ADVISER, now)  # demo data loaded before the roster gets them too
        if session.query(Referral).filter(Referral.given_name.like("Demo-%")).count():
            return "demo referrals already loaded"
        _add_listings(session, now)
        gp = Actor("demo-gp", "gp", str(DEMO_PRACTICE), name="Dr Demo Clinician",
                   organisation_name=demo.DEMO_PRACTICE_NAME)
        for i, ((given, family, born, postcode, decile, situation), journey) in enumerate(zip(PEOPLE, JOURNEYS)):
            at = now - timedelta(days=12 - i)
            intake = {"person": {"given_name": given, "family_name": family, "birth_date": born, "postcode": postcode,
                                 "phone": "01632 960000", "deprivation_decile": decile},
                      "consent": {"method": "verbal", "captured_at": at, "outcomes_to_referrer": i % 2 == 0},
                      "employment_situation": situation, "reason": "Demo referral (fictional person).",
                      "referrer": {"name": gp.name, "organisation_name": gp.organisation_name}}  # as the API's
            created, _ = services.submit(session, outbox, config, intake, gp, source="gp", now=at)
            referral = session.get(Referral, created.id)  # submit returns a transient copy for presenting
            adviser = DEMO_ADVISER
            for step, (action, data) in enumerate(journey, start=1):
                if action == "record_outcome":
                    data = {**data, "occurred_on": (at + timedelta(days=step)).date()}
                session.flush()
                services.act(session, outbox, config, referral, action, adviser, data,
                             expected_version=referral.version, now=at + timedelta(days=step))
    return (f"{len(PEOPLE)} demo referrals from {demo.DEMO_PRACTICE_NAME} to {demo.STAFF_DEMO_ORGANISATION} in "
            f"{' and '.join(town for town, _ in DEMO_TOWNS)}; sign in as an adviser with "
            f"`{demo.adviser_token_command(DEMO_ADVISERS)}`")


def _add_listings(session, now: datetime) -> None:
    """The demo directory's employment advice listings in DEMO_TOWNS, as its events would describe them (a
    listing the directory's events already brought is left as they made it)."""
    terms = [uuid.UUID(demo.term_id(code)) for code in demo.EMPLOYMENT_ADVICE_TERMS]
    for service_id, (_town, areas) in zip((DEMO_SERVICE, DEMO_SERVICE_2), DEMO_TOWNS):
        if session.get(RoutingService, service_id) is None:
            services.add_routing_service(session, service_id, DEMO_ADVISERS, now, area_codes=areas,
                                         minimum_age=LISTING_MINIMUM_AGE, term_ids=terms)
    session.flush()
