"""The least a referral intake can cost on this stack: Flask, PyJWT, marshmallow and psycopg, nothing else.

For bench/referrals.py: POST /referrals does the intake's irreducible work the way a lean hand-written
service would - check the bearer token (HS256, the development setting) and its role; validate the same
body as worklink_referrals' IntakeSchema does for the benchmark's requests (a person with a plausible birth
date, postcode and phone, explicit consent, an employment situation); key the person (HMAC-SHA256 of the
normalised name, birth date and postcode); then, on PostgreSQL, in one transaction: the person's advisory
lock with the routing query (a service serving the postcode area), the open-duplicate query, and one
INSERT of the referral, its first history row, its event and an audit row; answer 201 with the id, a
reference and the routing. Five round trips, as the service takes.

BARE_INTAKE_ONE_ROUND_TRIP=1 does the same in one statement in autocommit instead: routing as a subquery, and
duplicates refused by a unique index on open referrals' person keys rather than a person lock and a query -
the leanest shape the work can take, though not the service's rule (a duplicate is the same person with an
open referral to the same service, or to any when none is named, found under retired keys and NHS numbers
too, and may be linked with a reason; the service's lock must come before its duplicate query, in a statement
of its own, for that query to see a concurrent intake that just committed).

Left out, against the real service: the request log, metrics, request ids and security headers; several
match keys (retired person keys); a CloudEvents envelope built from a catalogue and checked for personal
values; OpenAPI-driven parsing; problem+json with field detail beyond marshmallow's messages; self-service
links, status e-mails and held-referral alerts; ORM models. So it is a ceiling, not a competitor.

BARE_INTAKE_DATABASE_URL (SQLAlchemy-style); BARE_INTAKE_JWT_SECRET, _AUDIENCE and _ISSUER (the token's HS256
secret and claims). A verified token is kept until it expires (the service keeps them for a while too).
"""

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import unicodedata
import uuid
from datetime import date, datetime, timezone

import jwt
import psycopg
from flask import Flask, request
from marshmallow import Schema, ValidationError, fields, validate

from bench.bare_write import libpq_url

app = Flask(__name__)
URL = libpq_url(os.environ.get("BARE_INTAKE_DATABASE_URL", ""))
SECRET = os.environ.get("BARE_INTAKE_JWT_SECRET", "")
AUDIENCE, ISSUER = os.environ.get("BARE_INTAKE_JWT_AUDIENCE"), os.environ.get("BARE_INTAKE_JWT_ISSUER")
ONE_ROUND_TRIP = os.environ.get("BARE_INTAKE_ONE_ROUND_TRIP") == "1"
PERSON_KEY = b"bench-person-key"
TABLES = """
CREATE TABLE IF NOT EXISTS bare_services (id uuid PRIMARY KEY, organization_id uuid NOT NULL, area text NOT NULL);
CREATE INDEX IF NOT EXISTS bare_services_area ON bare_services (area);
CREATE TABLE IF NOT EXISTS bare_referrals (id uuid PRIMARY KEY, reference text NOT NULL, status text NOT NULL,
  match_key text NOT NULL, service_id uuid, given_name text, family_name text, birth_date date, postcode text,
  phone text, employment_situation text, consent jsonb, submitted_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS bare_referrals_match ON bare_referrals (match_key);
CREATE UNIQUE INDEX IF NOT EXISTS bare_referrals_open ON bare_referrals (match_key) WHERE status = 'submitted';
CREATE TABLE IF NOT EXISTS bare_transitions (referral_id uuid, to_status text, actor text, occurred_at timestamptz);
CREATE TABLE IF NOT EXISTS bare_outbox (id uuid PRIMARY KEY, type text, body jsonb, at timestamptz);
CREATE TABLE IF NOT EXISTS bare_audit (id uuid PRIMARY KEY, actor text, action text, resource text, at timestamptz);
"""
ROUTE = ("SELECT s.id, s.organization_id FROM (SELECT pg_advisory_xact_lock(%s)) AS person_lock "
         "LEFT JOIN bare_services s ON s.area = %s LIMIT 1")
DUPLICATE = "SELECT id FROM bare_referrals WHERE match_key = %s AND status IN ('submitted', 'received') LIMIT 1"
WRITE = """WITH history AS (INSERT INTO bare_transitions VALUES (%(id)s, 'submitted', %(actor)s, %(now)s)),
  event AS (INSERT INTO bare_outbox VALUES (%(event_id)s, 'referrals.referral.submitted', %(event)s, %(now)s)),
  audit AS (INSERT INTO bare_audit VALUES (%(audit_id)s, %(actor)s, 'create', %(id)s, %(now)s))
INSERT INTO bare_referrals VALUES (%(id)s, %(reference)s, 'submitted', %(key)s, %(service)s, %(given)s,
  %(family)s, %(birth)s, %(postcode)s, %(phone)s, %(situation)s, %(consent)s, %(now)s)"""
# One statement, in autocommit: routed by a subquery, a duplicate refused by the unique index on open referrals'
# keys (nothing else is written then: the other rows are inserted from the referral's RETURNING).
ONE_STATEMENT = """WITH referral AS (INSERT INTO bare_referrals VALUES (%(id)s, %(reference)s, 'submitted', %(key)s,
    (SELECT id FROM bare_services WHERE area = %(area)s LIMIT 1), %(given)s, %(family)s, %(birth)s, %(postcode)s,
    %(phone)s, %(situation)s, %(consent)s, %(now)s)
  ON CONFLICT (match_key) WHERE status = 'submitted' DO NOTHING RETURNING id, service_id),
  history AS (INSERT INTO bare_transitions SELECT id, 'submitted', %(actor)s, %(now)s FROM referral),
  event AS (INSERT INTO bare_outbox SELECT %(event_id)s, 'referrals.referral.submitted',
    jsonb_set(%(event)s::jsonb, '{data,service_id}', coalesce(to_jsonb(service_id), 'null')), %(now)s
    FROM referral),
  audit AS (INSERT INTO bare_audit SELECT %(audit_id)s, %(actor)s, 'create', id, %(now)s FROM referral)
SELECT service_id FROM referral"""
local = threading.local()
verified: dict[str, dict] = {}


class PersonSchema(Schema):
    given_name = fields.String(required=True, validate=validate.Length(1, 100))
    family_name = fields.String(required=True, validate=validate.Length(1, 100))
    birth_date = fields.Date(required=True, validate=lambda d: date(1900, 1, 1) <= d <= date.today())
    postcode = fields.String(validate=validate.Regexp(r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$"))
    phone = fields.String(validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$"))


class ConsentSchema(Schema):
    explicit = fields.Boolean(required=True, validate=validate.Equal(True))
    captured_at = fields.DateTime(required=True)
    method = fields.String(required=True, validate=validate.OneOf(("verbal", "written", "electronic")))
    outcomes_to_referrer = fields.Boolean(required=True)


class IntakeSchema(Schema):
    person = fields.Nested(PersonSchema, required=True)
    consent = fields.Nested(ConsentSchema, required=True)
    employment_situation = fields.String(required=True, validate=validate.OneOf(
        ("employed", "employed_off_sick", "self_employed", "unemployed", "economically_inactive")))


INTAKE = IntakeSchema()


def connection() -> psycopg.Connection:
    if not hasattr(local, "db"):
        local.db = psycopg.connect(URL, autocommit=ONE_ROUND_TRIP)
    return local.db


def prepare(url: str, services: list[tuple[uuid.UUID, uuid.UUID, str]]) -> None:
    """Create the tables and the routing services at `url` (bench/referrals.py, before the server starts)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as db:
        db.execute(TABLES)
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO bare_services VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", services)


def _problem(status: int, detail, title: str):
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}, status, {
        "Content-Type": "application/problem+json"}


def _match_key(person: dict) -> str:
    details = "|".join((unicodedata.normalize("NFC", person["given_name"]).casefold(),
                        unicodedata.normalize("NFC", person["family_name"]).casefold(),
                        person["birth_date"].isoformat(), (person.get("postcode") or "").replace(" ", "").upper()))
    return hmac.new(PERSON_KEY, details.encode(), hashlib.sha256).hexdigest()


def _verified(token: str) -> dict:
    """The token's claims, verified once and then kept until it expires, as the service keeps them."""
    claims = verified.get(token)
    if claims is None or claims["exp"] <= time.time():
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
        if len(verified) > 1000:
            verified.clear()
        verified[token] = claims
    return claims


def _in_five_round_trips(db: psycopg.Connection, event: dict, values: dict) -> tuple[bool, uuid.UUID | None]:
    """As the service does: BEGIN, the person lock with routing, the duplicate query, one INSERT, COMMIT."""
    with db.transaction():
        route = db.execute(ROUTE, (int(values["key"][:15], 16), values["area"])).fetchone()
        if db.execute(DUPLICATE, (values["key"],)).fetchone():
            return False, None
        service = route[0] if route and route[0] else None
        event["data"]["service_id"] = str(service) if service else None
        db.execute(WRITE, {**values, "service": service, "event": json.dumps(event)})
    return True, service


def _in_one_statement(db: psycopg.Connection, event: dict, values: dict) -> tuple[bool, uuid.UUID | None]:
    row = db.execute(ONE_STATEMENT, {**values, "event": json.dumps(event)}).fetchone()
    return row is not None, row[0] if row else None


@app.get("/")
def ready():
    connection()
    return {"ready": True}


@app.post("/referrals")
def intake():
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        claims = _verified(token)
    except jwt.PyJWTError as error:
        return _problem(401, str(error), "Unauthorized")
    if claims.get("role") not in ("gp", "partner", "alliance_admin"):
        return _problem(403, "this role may not refer", "Forbidden")
    try:
        body = INTAKE.load(request.get_json(force=True))
    except ValidationError as error:
        return _problem(422, error.messages, "Unprocessable Content")
    person, now, referral_id = body["person"], datetime.now(timezone.utc), uuid.uuid4()
    key = _match_key(person)
    area = (person.get("postcode") or "").split(" ")[0].rstrip("0123456789").upper() or None
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": "referrals.referral.submitted",
             "source": "urn:worklink:referrals", "time": now.isoformat(),
             "data": {"referral_id": str(referral_id), "status": "submitted", "service_id": None}}
    values = {"id": referral_id, "actor": claims.get("sub"), "now": now, "event_id": event["id"],
              "audit_id": uuid.uuid4(), "key": key, "area": area, "reference": "WL-" + secrets.token_hex(4).upper(),
              "given": person["given_name"], "family": person["family_name"], "birth": person["birth_date"],
              "postcode": person.get("postcode"), "phone": person.get("phone"),
              "situation": body["employment_situation"],
              "consent": json.dumps({**body["consent"], "captured_at": body["consent"]["captured_at"].isoformat()})}
    written, service = (_in_one_statement if ONE_ROUND_TRIP else _in_five_round_trips)(connection(), event, values)
    if not written:
        return _problem(409, "this person already has an open referral", "Conflict")
    return {"id": str(referral_id), "status": "submitted", "routing": "routed" if service else "held"}, 201
