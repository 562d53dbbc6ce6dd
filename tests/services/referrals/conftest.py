"""Fixtures for the referrals service: an app on a migrated database, tokens, a controllable clock."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from worklink.auth import mint_token
from worklink.config import Settings
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_referrals.config import ReferralSettings
from worklink_referrals import services

from tests.apps import dispose_app

GP_PRACTICE = str(uuid.UUID("00000000-0000-4000-8000-00000000a001"))
ADVISERS = str(uuid.UUID("00000000-0000-4000-8000-00000000b001"))
OTHER_ADVISERS = str(uuid.UUID("00000000-0000-4000-8000-00000000b002"))
SERVICE = uuid.UUID("00000000-0000-4000-8000-00000000c001")
OTHER_SERVICE = uuid.UUID("00000000-0000-4000-8000-00000000c002")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc))  # Monday

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


class Harness:
    def __init__(self, app, settings: Settings, clock: Clock):
        self.app, self.settings, self.clock = app, settings, clock
        self.client = app.test_client()
        self.ctx = app.extensions["worklink"]

    def token(self, role: str, org: str | None = None, sub: str | None = None) -> dict[str, str]:
        return {"Authorization": "Bearer " + mint_token(self.settings.jwt, role=role, org=org, subject=sub)}

    def gp(self):
        return self.token("gp", GP_PRACTICE, "gp-1")

    def adviser(self, sub: str = "adviser-1", org: str = ADVISERS):
        return self.token("adviser", org, sub)

    def admin(self):
        return self.token("alliance_admin", None, "admin-1")

    def signs_in(self, sub: str, org: str = ADVISERS) -> None:
        """The adviser `sub` reads their queue, as signing in does: it puts them on their organisation's roster, so
        a colleague may accept or assign a referral to them (the service refuses a login id it does not know)."""
        assert self.client.get("/referrals", headers=self.adviser(sub, org)).status_code == 200

    def add_service(self, service_id=SERVICE, org=ADVISERS, *, active=True, areas=None, **reach):
        with self.ctx.database.transaction() as session:
            services.add_routing_service(session, service_id, uuid.UUID(org), self.clock.now, area_codes=areas,
                                         active=active, **reach)

    def refer(self, person=None, headers=None, **extra):
        body = referral_body(person, **extra)
        return self.client.post("/referrals", json=body, headers=headers or self.gp())

    def person_link(self, referral_id) -> str:
        """The person's private status page, as emailed to them (the restricted person message)."""
        table = self.ctx.tables.outbox
        with self.ctx.database.engine.connect() as conn:
            payloads = conn.execute(sa.select(table.c.payload).where(
                table.c.type == "notifications.person_message.requested").order_by(table.c.position)).scalars()
            links = [data["status_link"] for data in (json.loads(p)["data"] for p in payloads)
                     if data.get("referral_id") == str(referral_id) and data.get("status_link")]
        assert links, "no status link was sent to the person"
        return links[-1]

    def act(self, referral_id, action, headers=None, **data):
        if "version" not in data:
            data["version"] = self.client.get(f"/referrals/{referral_id}", headers=headers or self.adviser()
                                              ).get_json()["version"]
        return self.client.post(f"/referrals/{referral_id}/actions/{action}", json=data,
                                headers=headers or self.adviser())


def referrals_table_before(*, moments: tuple[str, ...] = (), texts: tuple[str, ...] = (),
                           uuids: tuple[str, ...] = ()) -> sa.TableClause:
    """The referrals table as an older revision left it, for a migration test's rows: the columns every insert
    needs since the first revisions, and the `moments` (timestamps), `texts` and `uuids` that test also writes."""
    moment, text = sa.DateTime(timezone=True), sa.String()
    return sa.table("referrals", sa.column("id", sa.Uuid()), sa.column("birth_date", sa.Date()),
                    sa.column("version", sa.Integer()), sa.column("outcomes_to_referrer", sa.Boolean()),
                    sa.column("person_updates", sa.Boolean()), *(sa.column(name, sa.Uuid()) for name in uuids),
                    *(sa.column(name, moment) for name in ("consent_captured_at", "submitted_at", "updated_at",
                                                           *moments)),
                    *(sa.column(name, text) for name in (
                        "reference", "status", "source", "referrer_org_id", "referrer_subject", "referrer_role",
                        "routing", "given_name", "family_name", "match_key", "consent_captured_by",
                        "consent_method", *texts)))


def referral_row_before(rid, reference: str, at: datetime, **columns) -> dict:
    """A row for referrals_table_before: a GP's routed referral submitted `at`, with `columns` over its defaults."""
    return {"id": rid, "reference": reference, "version": 1, "status": "submitted", "source": "gp",
            "referrer_org_id": "org", "referrer_subject": "sub", "referrer_role": "gp", "routing": "routed",
            "given_name": "Sam", "family_name": "Jones", "birth_date": date(1990, 1, 2), "match_key": "key",
            "consent_captured_by": "x", "consent_captured_at": at, "consent_method": "verbal",
            "outcomes_to_referrer": False, "person_updates": False, "submitted_at": at, "updated_at": at, **columns}


def nhs_number(i: int, prefix: int = 9) -> str:
    """The i-th NHS number (valid modulus-11 check digit) from `prefix` followed by zeros: distinct per i."""
    from worklink.nhs import nhs_number_is_valid

    number, found = int(str(prefix).ljust(10, "0")), -1
    while True:
        if nhs_number_is_valid(f"{number:010d}"):
            found += 1
            if found == i:
                return f"{number:010d}"
        number += 1


def fill_the_self_referral_form(page, email: str = "tom@exmaple.org", updates_by_email: str | None = "Yes") -> None:
    """In a browser on /refer-yourself: every answer, as Tom Baker gives them. `updates_by_email` is the answer to
    "Can we email you updates about your referral?" ("Yes", "No"), or None to leave it unanswered."""
    page.get_by_label("First name").fill("Tom")
    page.get_by_label("Last name").fill("Baker")
    page.get_by_label("Day").fill("28")
    page.get_by_label("Month").fill("2")
    page.get_by_label("Year").fill("1990")
    page.get_by_label("Postcode").fill("GL1 1AA")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("I am out of work and looking for work").check()
    if updates_by_email:
        emails = page.get_by_role("group", name="Can we email you updates about your referral?")
        emails.get_by_label(updates_by_email).check()
    page.get_by_label("I agree to my details being shared").check()


def with_updates(person=None, email="ada@example.org", **extra):
    """An intake whose person agreed to status emails (and so gets their private link by email)."""
    body = referral_body({"email": email, **(person or {})}, **extra)
    body["consent"]["updates_by_email"] = True
    return body


def referral_body(person=None, **extra):
    body = {
        "person": {"given_name": "Ada", "family_name": "Lovelace", "birth_date": "1985-12-10",
                   "postcode": "GL1 2AB", "phone": "01452 000000", "nhs_number": "9434765919",
                   "deprivation_decile": 3, **(person or {})},
        "consent": {"explicit": True, "captured_at": "2026-11-23T08:30:00Z", "method": "verbal",
                    "outcomes_to_referrer": True},
        "employment_situation": "off_sick_fit_note",
        "reason": "Back pain; wants to return to warehouse work with adjustments.",
    }
    body.update(extra)
    return body


@pytest.fixture()
def make_harness(tmp_path):
    made: list[Harness] = []

    def make(database_url: str | None = None, referral_settings: ReferralSettings | None = None) -> Harness:
        url = database_url or f"sqlite:///{tmp_path / 'referrals.db'}"
        settings = Settings.from_env("referrals", {"WORKLINK_VAR": str(tmp_path), "REFERRALS_DATABASE_URL": url,
                                                   "WORKLINK_ENV": "test"})
        spec = get_service("referrals")
        upgrade(spec.migrations_dir, url)
        clock = Clock()
        app = spec.create_app(settings=settings, referral_settings=referral_settings or ReferralSettings(
            expose_codes=True), clock=clock)
        made.append(Harness(app, settings, clock))
        return made[-1]
    yield make
    for harness in made:
        dispose_app(harness.app)


@pytest.fixture()
def harness(make_harness) -> Harness:
    """SQLite: most API tests. Tests that matter on both databases use `both`."""
    h = make_harness()
    h.add_service()
    return h


@pytest.fixture()
def both(make_harness, database_url) -> Harness:
    h = make_harness(database_url)
    h.add_service()
    return h
