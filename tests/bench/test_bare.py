"""bench/bare_write.py and bench/bare_intake.py, the ceilings the write benchmarks print beside their targets:
they must really do the work they are said to do, or the ceiling they show is for less."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from bench import bare_intake, bare_write
from bench.bare_write import libpq_url as _libpq
from bench.referrals import referral_body
from worklink.auth import mint_token
from worklink.config import JwtSettings


def _count(url: str, table: str) -> int:
    with psycopg.connect(_libpq(url)) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture()
def bare_write_on(monkeypatch, tmp_path):
    clients = threading.local()

    def use(postgres_url: str | None):
        monkeypatch.setattr(bare_write, "local", clients)  # a connection per test's database
        monkeypatch.setattr(bare_write, "POSTGRES_URL", _libpq(postgres_url) if postgres_url else "")
        monkeypatch.setattr(bare_write, "PATH", str(tmp_path / "bare-write.db"))
        return bare_write.app.test_client()
    yield use
    if hasattr(clients, "db"):
        clients.db.close()


def test_the_bare_write_stores_an_audit_row_and_an_event_on_postgresql(bare_write_on, postgres_url):
    client = bare_write_on(postgres_url)
    ids = [client.post("/write", json={}).get_json()["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert _count(postgres_url, "bare_audit") == _count(postgres_url, "bare_outbox") == 3
    with psycopg.connect(_libpq(postgres_url)) as db:
        resources = {row[0] for row in db.execute("SELECT resource FROM bare_audit")}
        events = [row[0] for row in db.execute("SELECT body FROM bare_outbox")]
    assert resources == set(ids)
    assert all('"type": "bench.thing.created"' in body for body in events)


def test_the_bare_write_stores_both_rows_on_sqlite(bare_write_on, tmp_path):
    import sqlite3

    client = bare_write_on(None)
    response = client.post("/write", json={})
    assert response.status_code == 201
    db = sqlite3.connect(tmp_path / "bare-write.db")
    assert db.execute("SELECT resource FROM bare_audit").fetchall() == [(response.get_json()["id"],)]
    assert db.execute("SELECT count(*) FROM bare_outbox").fetchone() == (1,)


@pytest.fixture(params=[False, True], ids=["five round trips", "one statement"])
def intake_client(request, monkeypatch, postgres_url):
    settings = JwtSettings()
    monkeypatch.setattr(bare_intake, "ONE_ROUND_TRIP", request.param)
    monkeypatch.setattr(bare_intake, "local", threading.local())
    monkeypatch.setattr(bare_intake, "verified", {})
    monkeypatch.setattr(bare_intake, "URL", _libpq(postgres_url))
    monkeypatch.setattr(bare_intake, "SECRET", settings.secret)
    monkeypatch.setattr(bare_intake, "AUDIENCE", settings.audience)
    monkeypatch.setattr(bare_intake, "ISSUER", settings.issuer)
    bare_intake.prepare(postgres_url, [(uuid.uuid4(), uuid.uuid4(), "GL")])
    token = mint_token(settings, role="gp", org=str(uuid.uuid4()), subject="bench-gp")
    client = bare_intake.app.test_client()
    yield client, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if hasattr(bare_intake.local, "db"):
        bare_intake.local.db.close()


def test_the_bare_intake_routes_and_writes_the_referral_its_history_event_and_audit(intake_client, postgres_url):
    client, headers = intake_client
    response = client.post("/referrals", data=referral_body(1), headers=headers)
    assert response.status_code == 201
    assert response.get_json()["routing"] == "routed"
    for table in ("bare_referrals", "bare_transitions", "bare_outbox", "bare_audit"):
        assert _count(postgres_url, table) == 1, table
    with psycopg.connect(_libpq(postgres_url)) as db:
        [(event,)] = db.execute("SELECT body FROM bare_outbox").fetchall()
        [(service,)] = db.execute("SELECT service_id FROM bare_referrals").fetchall()
    assert event["data"] == {"referral_id": response.get_json()["id"], "status": "submitted",
                             "service_id": str(service)}


def test_the_bare_intake_refuses_the_same_person_twice_and_writes_nothing_more(intake_client, postgres_url):
    client, headers = intake_client
    body = referral_body(2)
    assert client.post("/referrals", data=body, headers=headers).status_code == 201
    again = client.post("/referrals", data=body, headers=headers)
    assert again.status_code == 409
    assert again.content_type == "application/problem+json"
    for table in ("bare_referrals", "bare_transitions", "bare_outbox", "bare_audit"):
        assert _count(postgres_url, table) == 1, table


def test_the_bare_intake_checks_the_token_and_the_body(intake_client, postgres_url):
    client, headers = intake_client
    forged = mint_token(JwtSettings(secret="another-secret-of-enough-length-for-hs256"), role="gp",
                        org="practice-1")
    assert client.post("/referrals", data=referral_body(3),
                       headers={**headers, "Authorization": f"Bearer {forged}"}).status_code == 401
    unsure = client.post("/referrals", json={"person": {"given_name": "A", "family_name": "B",
                                                        "birth_date": "1980-01-01"},
                                             "consent": {"explicit": False, "captured_at": "2026-11-25T09:00:00Z",
                                                         "method": "verbal", "outcomes_to_referrer": True},
                                             "employment_situation": "unemployed"}, headers=headers)
    assert unsure.status_code == 422
    assert "explicit" in unsure.get_json()["detail"]["consent"]
    assert _count(postgres_url, "bare_referrals") == 0
