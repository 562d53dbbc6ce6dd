"""Demo data (clearly fictional people): two adviser services, a GP practice and referrals in every stage.

Run by `worklink seed`. Only the routing read model is written directly (it is normally fed by
the directory's events); every referral goes through the same use cases as the API, so its
history, outbox events and clocks are real.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.migrations import upgrade
from worklink.messaging.outbox import Outbox
from worklink_referrals import services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.domain import Actor
from worklink_referrals.models import PLATFORM, Referral, RoutingService

DEMO_PRACTICE = uuid.UUID("d0000000-0000-4000-8000-00000000a001")
DEMO_ADVISERS = uuid.UUID("d0000000-0000-4000-8000-00000000b001")
DEMO_ADVISERS_2 = uuid.UUID("d0000000-0000-4000-8000-00000000b002")
DEMO_SERVICE = uuid.UUID("d0000000-0000-4000-8000-00000000c001")
DEMO_SERVICE_2 = uuid.UUID("d0000000-0000-4000-8000-00000000c002")

PEOPLE = [  # (given, family, birth, postcode, decile, situation)
    ("Demo-Alex", "Example", date(1980, 3, 1), "GL1 2AB", 2, "off_sick_fit_note"),
    ("Demo-Sam", "Example", date(1992, 7, 9), "GL1 4XY", 1, "unemployed"),
    ("Demo-Jo", "Sample", date(1975, 11, 20), "GL50 1AA", 8, "in_work_at_risk"),
    ("Demo-Ruth", "Sample", date(1968, 5, 5), "GL2 0AA", 4, "economically_inactive"),
    ("Demo-Lee", "Test", date(2001, 1, 15), "GL4 6BB", 3, "unemployed"),
    ("Demo-Pat", "Test", date(1988, 9, 30), "GL51 9CC", 6, "off_sick_fit_note"),
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
    upgrade(__import__("worklink_referrals").SERVICE.migrations_dir, settings.database_url)
    database = Database(settings.database_url)
    outbox, config = Outbox("referrals", PLATFORM, CATALOGUE), ReferralSettings()
    now = datetime.now(timezone.utc)
    with database.transaction() as session:
        if session.query(Referral).filter(Referral.given_name.like("Demo-%")).count():
            return "demo referrals already loaded"
        for service_id, org, areas in ((DEMO_SERVICE, DEMO_ADVISERS, None),
                                       (DEMO_SERVICE_2, DEMO_ADVISERS_2, ["GL50", "GL51"])):
            if session.get(RoutingService, service_id) is None:
                services.add_routing_service(session, service_id, org, now, area_codes=areas)
        session.flush()
        gp = Actor("demo-gp", "gp", str(DEMO_PRACTICE))
        for i, ((given, family, born, postcode, decile, situation), journey) in enumerate(zip(PEOPLE, JOURNEYS)):
            at = now - timedelta(days=12 - i)
            intake = {"person": {"given_name": given, "family_name": family, "birth_date": born, "postcode": postcode,
                                 "phone": "01632 960000", "deprivation_decile": decile},
                      "consent": {"method": "verbal", "captured_at": at, "outcomes_to_referrer": i % 2 == 0},
                      "employment_situation": situation, "reason": "Demo referral (fictional person)."}
            created, _ = services.submit(session, outbox, config, intake, gp, source="gp", now=at)
            referral = session.get(Referral, created.id)  # submit returns a transient copy for presenting
            adviser = Actor("demo-adviser", "adviser", referral.assigned_org_id)
            for step, (action, data) in enumerate(journey, start=1):
                if action == "record_outcome":
                    data = {**data, "occurred_on": (at + timedelta(days=step)).date()}
                session.flush()
                services.act(session, outbox, config, referral, action, adviser, data,
                             expected_version=referral.version, now=at + timedelta(days=step))
    return (f"{len(PEOPLE)} demo referrals from practice {DEMO_PRACTICE}; sign in as an adviser with "
            f"`worklink token --role adviser --org {DEMO_ADVISERS} --sub demo-adviser`")
