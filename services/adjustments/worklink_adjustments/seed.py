"""Demo data for `worklink seed`: one practice's suggestions in each interesting state.

Clearly demo data: the practice is "Demo Surgery", the patients are fictional and the NHS
numbers are made up (valid check digits, from the 999 range the NHS never issues).
"""

from __future__ import annotations

import os
import uuid
from datetime import date, timedelta

import sqlalchemy as sa

from worklink.auth import Principal
from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink import demo
from worklink.audit import AuditTrail
from worklink_adjustments import services
from worklink_adjustments.app import _link_secret, clinician_reference_key
from worklink_adjustments.config import person_key
from worklink_adjustments.domain import uk_today
from worklink_adjustments.models import PLATFORM, Suggestion

DEMO_PRACTICE = demo.DEMO_PRACTICE  # the referrals demo's practice too
DEMO_CLINICIAN = "demo-gp-1"


def demo_nhs_number(seed: int) -> str:
    """A made-up NHS number in the never-issued 999 range, with a valid modulus-11 check digit."""
    while True:
        stem = f"999{seed:06d}"
        total = sum(int(d) * w for d, w in zip(stem, range(10, 1, -1)))
        check = (11 - total % 11) % 11
        if check != 10:
            return stem + str(check)
        seed += 1


def _body(given: str, family: str, n: int, condition: tuple[str, str], effects: str, picks: list[tuple[str, str]],
          phone: str | None = None, **extra) -> dict:
    today = uk_today()
    return {
        "issuer": {"name": "Dr Demo Clinician", "profession": "doctor"},
        "patient": {"nhs_number": demo_nhs_number(n), "given_name": given, "family_name": family,
                    "birth_date": date(1980 + n % 20, 1 + n % 12, 1 + n % 27), "email": None, "phone": phone,
                    "postcode": "TA1 1AA"},  # in the demo directory's county: routed to its advisers
        "assessment": {"date": today, "method": "face_to_face", "condition_started_on": today - timedelta(days=45)},
        "conditions": [{"text": condition[1], "condition_id": condition[0], "disclose": False}],
        "decision": "may_be_fit", "categories": [], "functional_effects": effects,
        "recommendations": [{"difficulty": d, "adjustment_id": a, "free_text": None, "schedule": []} for a, d in picks],
        "period": {"start": today, "end": today + timedelta(days=28), "duration_days": None},
        "reassessment_needed": True, "review_date": None,
        "job": {"title": "Demo job", "tasks": []},
        "signposting": {"occupational_health": False, "access_to_work": True},
        "consent": {"share_with_employer": True, "refer_to_employment_adviser": False},
        "supersedes_id": None, **extra,
    }


def load_demo_data(settings: Settings) -> str:
    database = Database(settings.database_url)
    deps = services.Deps(Outbox("adjustments", PLATFORM, CATALOGUE), AuditTrail(PLATFORM),
                         person_key=person_key(os.environ), link_secret=_link_secret(settings),
                         clinician_key=clinician_reference_key(settings))
    clinician = services.Clinician(DEMO_CLINICIAN, DEMO_PRACTICE,
                                   Principal(DEMO_CLINICIAN, "gp", str(DEMO_PRACTICE), claims={
                                       "name": "Dr Demo Clinician", "org_name": demo.DEMO_PRACTICE_NAME}))
    today = uk_today()
    try:
        with database.transaction() as session:
            if session.scalar(sa.select(sa.func.count()).select_from(Suggestion)
                              .where(Suggestion.practice_id == DEMO_PRACTICE)):
                return "demo suggestions already loaded"
            back = services.create(session, deps, clinician, _body(
                "Alex", "Demo", 1, ("back_pain", "Low back pain"),
                "Cannot lift more than 10 kg or sit for more than 30 minutes at a time for four weeks.",
                [("no_heavy_lifting", "Lifting stock"), ("sit_stand_desk", "Sitting at the desk")]), today)
            services.issue(session, deps, clinician, back["id"], 1, today)
            mood = services.create(session, deps, clinician, _body(
                "Bea", "Example", 2, ("depression", "Depression"),
                "Tires quickly and finds concentrating for long periods hard; mornings are hardest.",
                [("phased_return_4wk", "Tiredness"), ("later_start", "Mornings"), ("quiet_workspace", "Noise")],
                phone="01632960002",  # the adviser contacts a referred patient (an Ofcom drama number)
                consent={"share_with_employer": True, "refer_to_employment_adviser": True}), today)
            services.issue(session, deps, clinician, mood["id"], 1, today)
            services.create(session, deps, clinician, _body(
                "Cal", "Sample", 3, ("long_covid", "Long COVID"),
                "Gets breathless on stairs and needs rest after an hour of focused work.",
                [("phased_return_slow_paced", "Stamina"), ("home_working", "Commuting")]), today)
            link = services.link_for(session, deps, session.get(Suggestion, back["id"]))
    finally:
        database.dispose()
    return (f"3 demo suggestions for {demo.DEMO_PRACTICE_NAME} (practice {DEMO_PRACTICE}): 2 issued, 1 draft; "
            f"sign in with `{demo.GP_TOKEN_COMMAND}`; "
            f"a demo employer reply link: /respond/{link}")
