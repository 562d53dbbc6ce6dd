"""Fixtures for the directory service: a migrated database, the app, tokens, a small known directory.

The known directory (see `directory`) has coordinates chosen so distances from the
test postcode TA1 1AA are known: Taunton 0 m, Taunton cafe ~0.9 km, Bridgwater
~14 km, Yeovil ~35 km; one listing sits at a confidential address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from worklink.auth import mint_token
from worklink.config import Settings
from worklink.events.contracts import CATALOGUE
from worklink.migrations import upgrade
from worklink.service import installed_services
from worklink_directory import demo
from worklink_directory.app import create_app
from worklink_directory.geocode import OfflineGeocoder, Point

from tests.apps import dispose_app, disposed_after

SPEC = installed_services()["directory"]
ORG_A = uuid.UUID("0b3c6c86-0000-4000-8000-00000000000a")
ORG_B = uuid.UUID("0b3c6c86-0000-4000-8000-00000000000b")
GEOCODER = OfflineGeocoder({"TA1 1AA": Point(51.0146, -3.1029), "TA6 3BB": Point(51.1280, -3.0030),
                            "BA20 1AA": Point(50.9420, -2.6330), "TA1": Point(51.0146, -3.1029)})


def make_app(database_url: str, tmp_path, catalogue=CATALOGUE, bootstrap: str | None = None):
    env = {"WORKLINK_VAR": str(tmp_path), "DIRECTORY_DATABASE_URL": database_url, "WORKLINK_ENV": "test"}
    if bootstrap:
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    settings = Settings.from_env("directory", env)
    upgrade(SPEC.migrations_dir, database_url)
    app = create_app(settings=settings, geocoder=GEOCODER, catalogue=catalogue)
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'directory.db'}"


@pytest.fixture()
def app(sqlite_url, tmp_path):
    yield from disposed_after(make_app(sqlite_url, tmp_path))


def token_for(app, role: str, org: uuid.UUID | None = None, **extra) -> dict[str, str]:
    settings = app.extensions["worklink"].settings
    token = mint_token(settings.jwt, role=role, org=str(org) if org else None, **extra)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Known:
    ids: dict[str, str]
    terms: dict[str, str]


def service_body(org: uuid.UUID, name: str, terms: list[str], *, lat: float | None = None, lon: float | None = None,
                 postcode: str = "TA1 1AA", days=(("MO", "09:00", "17:00"),), ages=(None, None),
                 confidential: bool = False, free: bool = True, delivery=("in_person",), description: str = "",
                 city: str = "Taunton") -> dict:
    body = {"organization_id": str(org), "name": name, "description": description or f"{name}.",
            "taxonomy_term_ids": [demo.term_id(c) for c in terms], "is_free": free, "delivery_modes": list(delivery),
            "schedules": [{"byday": d, "opens_at": o, "closes_at": c} for d, o, c in days],
            "contacts": [{"name": "Advice line", "phones": [{"number": "01632 960001"}]}],
            "application_process": "Call the advice line."}
    if not free:
        body["fees"] = "£40 per course."
    if ages[0] is not None:
        body["minimum_age"] = ages[0]
    if ages[1] is not None:
        body["maximum_age"] = ages[1]
    if lat is not None:
        body["locations"] = [{"name": f"{city} centre", "address_1": "1 High Street", "city": city,
                              "postal_code": postcode, "latitude": lat, "longitude": lon,
                              "accessibility": "Step-free access.", "confidential": confidential}]
    return body


def build_directory(app) -> Known:
    admin = token_for(app, "alliance_admin")
    client = app.test_client()
    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    for org, name in ((ORG_A, "Somerset Working Well"), (ORG_B, "Safe Homes Somerset")):
        assert client.post("/manage/organizations", json={"id": str(org), "name": name, "description": name},
                           headers=admin).status_code == 201
    bodies = {
        "counselling": service_body(ORG_A, "Taunton counselling service", ["counselling", "mental-health"],
                                    lat=51.0146, lon=-3.1029, ages=(18, None),
                                    days=(("MO", "09:00", "17:00"), ("WE", "09:00", "17:00")),
                                    delivery=("in_person", "telephone"),
                                    description="Short-term counselling for anxiety and stress at work."),
        "debt": service_body(ORG_A, "Debt and money advice, Bridgwater", ["debt"], lat=51.1280, lon=-3.0030,
                             postcode="TA6 3BB", city="Bridgwater", days=(("TU", "10:00", "14:00"),),
                             description="Help with debts, arrears and budgeting; we mention counselling rarely."),
        "jobclub": service_body(ORG_A, "Young people's job club, Yeovil", ["employment-advice", "cv-interview"],
                                lat=50.9420, lon=-2.6330, postcode="BA20 1AA", city="Yeovil", ages=(16, 24),
                                days=(("WE", "13:00", "19:00"),), description="CV help and job searching."),
        "cafe": service_body(ORG_A, "Wellbeing cafe, Taunton", ["peer-support", "mental-health"],
                             lat=51.0200, lon=-3.1100, ages=(18, None), free=False,
                             days=(("SA", "10:00", "14:00"),), description="Peer support over a cup of tea."),
        "refuge": service_body(ORG_B, "Safe housing support", ["carers"], lat=51.0150, lon=-3.1030,
                               confidential=True, description="Safe accommodation and support."),
        "digital": service_body(ORG_A, "Digital skills for work, online", ["digital-skills", "skills"],
                                ages=(19, None), delivery=("online",), days=(("TH", "18:00", "20:00"),),
                                description="Learn email and online job sites."),
    }
    ids = {}
    for key, body in bodies.items():
        response = client.post("/manage/services", json=body, headers=admin)
        assert response.status_code == 201, response.get_json()
        ids[key] = response.get_json()["id"]
    return Known(ids, {code: demo.term_id(code) for code, *_ in demo.TERMS})


@pytest.fixture()
def directory(app) -> Known:
    return build_directory(app)


@pytest.fixture()
def both(database_url, tmp_path) -> tuple:
    """(app, directory) on SQLite and on PostgreSQL: for pages whose queries differ between them (times, text
    search, counts and ordering of a page of results)."""
    app = make_app(database_url, tmp_path)
    try:
        yield app, build_directory(app)
    finally:
        dispose_app(app)


def taking_referrals(app, service_id: str, open_referrals: int = 3) -> None:
    """The service (ORG_A's) takes referrals, as the referrals service last said (a typical wait of 5 days), and the
    directory links to a referrals site at https://referrals.example."""
    from worklink_directory.models import ServiceCapacity

    app.extensions["directory"]["referrals_url"] = "https://referrals.example"
    with app.extensions["worklink"].database.transaction() as session:
        session.add(ServiceCapacity(service_id=uuid.UUID(service_id), organization_id=ORG_A, accepting_referrals=True,
                                    open_referrals=open_referrals, typical_wait_days=5,
                                    updated=datetime.now(timezone.utc)))


def listed_long_ago(app, days: int = 93) -> None:
    """Back-date every listing's listed_at, so one never assured is due for review: listed on a UK day more than
    the 91-day period ago. (92 days was one day to spare, which the hour between BST and GMT took away when run
    between 23:00 and midnight UTC in winter: listed at 00:xx BST on the cutoff day itself, not before it.)"""
    import sqlalchemy as sa

    from worklink.db import utcnow
    from worklink_directory.models import Service

    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(Service).values(listed_at=utcnow() - timedelta(days=days)))
