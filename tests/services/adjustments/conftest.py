"""Fixtures for the adjustments service: a migrated app on SQLite or PostgreSQL, tokens, a valid suggestion."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest

from worklink.auth import mint_token
from worklink.config import Settings
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_adjustments.domain import uk_today

from tests.apps import dispose_app, disposed_after

PRACTICE = uuid.UUID("3b0f3f8e-8d52-4c39-9a7e-1f2d5b3c4a11")
OTHER_PRACTICE = uuid.UUID("9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f")
VALID_NHS = "9434765919"  # check digit 9 (the NHS's published test number)
# The guidance version of a freshly migrated library: 1 the starter library, 2 its rewording (0006),
# 3 and 4 ids renamed (0007, 0008), 5 wording that said a need reworded (0009). Each published change
# of the library adds one.
LIBRARY_VERSION = 5


def make_settings(tmp_path, database_url: str | None = None, bootstrap: str = "127.0.0.1:1") -> Settings:
    env = {"WORKLINK_VAR": str(tmp_path), "WORKLINK_ENV": "test", "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    if database_url:
        env["ADJUSTMENTS_DATABASE_URL"] = database_url
    return Settings.from_env("adjustments", env)


def add_later_columns(database_url: str) -> None:
    """For a data-migration test that runs today's code on a database at an older revision: the
    columns later revisions add (0010: suggestions.outcomes_to_gp; 0011: suggestions.erased_at; 0016:
    referral_requests.unanswered_at; 0018: guidance_rules.revision; 0019: phrase_templates.revision and
    functional_limitations.revision), added as they add them."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE suggestions ADD COLUMN outcomes_to_gp BOOLEAN DEFAULT FALSE NOT NULL"))
            conn.execute(sa.text("ALTER TABLE suggestions ADD COLUMN erased_at TIMESTAMP WITH TIME ZONE"))
            conn.execute(sa.text("ALTER TABLE referral_requests ADD COLUMN unanswered_at TIMESTAMP WITH TIME ZONE"))
            conn.execute(sa.text("ALTER TABLE guidance_rules ADD COLUMN revision INTEGER DEFAULT 1 NOT NULL"))
            for table in ("phrase_templates", "functional_limitations"):
                conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN revision INTEGER DEFAULT 1 NOT NULL"))
    finally:
        engine.dispose()


def patient_reference(app, nhs_number: str = VALID_NHS) -> str:
    """How the audit trail names the patient: the keyed reference of the NHS number under the app's key."""
    from worklink_adjustments.services import person_reference

    return person_reference(nhs_number, app.config["PERSON_KEY"])


def build_app(settings: Settings):
    spec = get_service("adjustments")
    upgrade(spec.migrations_dir, settings.database_url)
    return spec.create_app(settings=settings)


@pytest.fixture()
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture()
def app(settings):
    yield from disposed_after(build_app(settings))


@pytest.fixture()
def client(app):
    return app.test_client()


class Tokens:
    def __init__(self, settings: Settings):
        self.settings = settings

    def header(self, role: str = "gp", org: uuid.UUID | str | None = PRACTICE, subject: str = "dr-ada") -> dict:
        token = mint_token(self.settings.jwt, role=role, org=str(org) if org else None, subject=subject)
        return {"Authorization": f"Bearer {token}"}

    def raw(self, role: str = "gp", org=PRACTICE, subject: str = "dr-ada") -> str:
        return mint_token(self.settings.jwt, role=role, org=str(org) if org else None, subject=subject)


@pytest.fixture()
def svc(tmp_path, database_url):
    """(app, client, tokens) on SQLite and on PostgreSQL."""
    settings = make_settings(tmp_path, database_url)
    app = build_app(settings)
    try:
        yield app, app.test_client(), Tokens(settings)
    finally:
        dispose_app(app)


@pytest.fixture()
def tokens(settings) -> Tokens:
    return Tokens(settings)


def suggestion_body(**overrides) -> dict:
    today = uk_today()  # as the service decides it
    body = {
        "issuer": {"name": "Dr Ada Lovelace", "profession": "doctor"},
        "patient": {"nhs_number": VALID_NHS, "given_name": "Sam", "family_name": "Patel",
                    "birth_date": "1985-04-12", "email": "sam@example.org", "phone": "07700 900123",
                    "postcode": "GL1 2AB"},
        "assessment": {"date": today.isoformat(), "method": "face_to_face",
                       "condition_started_on": (today - timedelta(days=40)).isoformat()},
        "conditions": [{"text": "Depression", "condition_id": "depression", "disclose": False}],
        "decision": "may_be_fit",
        "categories": ["altered_hours"],
        "functional_effects": "Tires quickly and finds it hard to concentrate for long; mornings are hardest.",
        "recommendations": [
            {"difficulty": "Tiredness by mid-afternoon", "adjustment_id": "phased_return_4wk",
             "schedule": [{"week": 1, "plan": "4 hours a day, 3 days"}, {"week": 2, "plan": "5 hours a day, 4 days"}]},
            {"difficulty": "Noise makes concentrating hard", "adjustment_id": "quiet_workspace"},
            {"difficulty": "Early starts", "free_text": "Start at 10am for the first month."},
        ],
        "period": {"start": today.isoformat(), "end": (today + timedelta(days=28)).isoformat()},
        "reassessment_needed": True,
        "job": {"title": "Warehouse supervisor", "employer_name": "Severn Logistics", "tasks": ["planning_work"]},
        "signposting": {"occupational_health": True, "access_to_work": True},
        "consent": {"share_with_employer": True, "refer_to_employment_adviser": False},
    }
    for path, value in overrides.items():
        target = body
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[key]
        if value is ...:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = copy.deepcopy(value)
    return body
