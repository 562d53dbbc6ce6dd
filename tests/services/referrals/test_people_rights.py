"""A person's rights, for alliance admins: the subject access export (POST /people/subject-access) and
erasure on request (POST /people/erasure), across every referral held about the person (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from tests.services.referrals.conftest import ADVISERS, GP_PRACTICE, nhs_number, referral_body
from worklink_referrals.models import Referral

ADA = {"nhs_number": nhs_number(1), "given_name": "Ada", "family_name": "Lovelace", "birth_date": "1985-12-10",
       "postcode": "GL1 2AB", "email": "ada@example.org"}


def with_updates(person: dict) -> dict:
    body = referral_body(person)
    body["consent"]["updates_by_email"] = True
    return body


def without_nhs_number(person: dict) -> dict:
    body = with_updates(person)
    del body["person"]["nhs_number"]
    return body


def ada_history(h) -> tuple[str, str]:
    """Ada's first referral (by NHS number) was worked and cancelled; her second, from a partner who had no
    NHS number for her (same name, birth date and postcode), is open."""
    first = h.client.post("/referrals", json=with_updates(ADA), headers=h.gp()).get_json()["id"]
    assert h.act(first, "accept", adviser_id="adviser-1").status_code == 200
    assert h.act(first, "record_contact_attempt", channel="phone", result="no_answer").status_code == 200
    assert h.client.post(f"/referrals/{first}/notes", json={"text": "Prefers mornings"},
                         headers=h.adviser()).status_code == 201
    assert h.act(first, "cancel", headers=h.admin(), reason="other", text="Moved to Leeds").status_code == 200
    h.clock.advance(days=30)
    second = h.client.post("/referrals", json=without_nhs_number(ADA), headers=h.gp())
    assert second.status_code == 201, second.get_json()
    return first, second.get_json()["id"]


def someone_else(h) -> str:
    other = {"nhs_number": nhs_number(2), "given_name": "Mary", "family_name": "Somerville"}
    return h.client.post("/referrals", json=referral_body(other), headers=h.gp()).get_json()["id"]


def namesake(h) -> str:
    """Another Ada Lovelace, born the same day at the same postcode, with her own NHS number."""
    body = referral_body({**ADA, "nhs_number": nhs_number(3)}, service_id=None)
    body.pop("service_id")
    made = h.client.post("/referrals", json={**body, "duplicate": {"reason": "a different person: NHS number"}},
                         headers=h.gp())
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def audits(h, action: str) -> list[tuple[str, str | None]]:
    audit = h.ctx.tables.audit_log.c
    with h.ctx.database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(audit.resource_id, audit.purpose)
                                               .where(audit.action == action).order_by(audit.id))]


def outbox(h) -> list[dict]:
    table = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        return [json.loads(p) for p in conn.execute(sa.select(table.c.payload).order_by(table.c.position)).scalars()]


def export(h, **body):
    return h.client.post("/people/subject-access", json=body, headers=h.admin())


def test_subject_access_exports_everything_held_about_the_person_across_their_referrals(both):
    h = both
    first, second = ada_history(h)
    someone_else(h)

    by_number = export(h, nhs_number=" ".join((ADA["nhs_number"][:3], ADA["nhs_number"][3:6], ADA["nhs_number"][6:])))
    assert by_number.status_code == 200, by_number.get_json()
    body = by_number.get_json()
    assert [r["id"] for r in body["referrals"]] == [first, second]  # the second found through the match key
    worked = body["referrals"][0]
    assert worked["person"]["given_name"] == "Ada" and worked["person"]["nhs_number"] == ADA["nhs_number"]
    assert worked["person"]["email"] == "ada@example.org" and worked["status_text"] == "Moved to Leeds"
    assert worked["need"]["reason"].startswith("Back pain")
    assert [n["text"] for n in worked["notes"]] == ["Prefers mornings"]
    assert [(a["channel"], a["result"]) for a in worked["contact_attempts"]] == [("phone", "no_answer")]
    assert worked["consent"]["updates_by_email"] is True and worked["consent"]["method"] == "verbal"
    assert [s["action"] for s in worked["history"]] == ["submit", "accept", "record_contact_attempt", "cancel"]
    # Who saw it, from the audit trail: the referrer and the adviser organisation (and the alliance).
    assert {GP_PRACTICE, ADVISERS} <= {a["organisation"] for a in worked["accessed"]}
    assert {GP_PRACTICE, ADVISERS} <= set(body["organisations"])
    assert "Somerville" not in by_number.get_data(as_text=True)
    assert audits(h, "export") == [(first, "subject access request"), (second, "subject access request")]

    by_referral = export(h, referral_id=second)  # the referral without an NHS number finds the other too
    assert [r["id"] for r in by_referral.get_json()["referrals"]] == [first, second]


def test_a_namesake_with_another_nhs_number_is_neither_exported_nor_erased(both):
    """Another Ada Lovelace born the same day at the same postcode: her referral is never taken for Ada's,
    and Ada's referral without an NHS number can no longer be told apart by name, birth date and postcode -
    found by its own id only, never given to either of them."""
    h = both
    first, second = ada_history(h)
    other_ada = namesake(h)
    ids = lambda **lookup: [r["id"] for r in export(h, **lookup).get_json()["referrals"]]
    assert ids(nhs_number=ADA["nhs_number"]) == [first]
    assert ids(referral_id=second) == [second]
    assert ids(referral_id=other_ada) == ids(nhs_number=nhs_number(3)) == [other_ada]
    erased = erase(h, nhs_number=ADA["nhs_number"], reason="objection").get_json()["erased"]
    assert [e["referral_id"] for e in erased] == [first]
    with h.ctx.database.engine.connect() as conn:
        names = dict(conn.execute(sa.select(Referral.id, Referral.given_name)).all())
    assert names[uuid.UUID(other_ada)] == "Ada" and names[uuid.UUID(second)] == "Ada"  # neither erased


def test_subject_access_refusals(both):
    h = both
    someone_else(h)
    nothing = export(h, nhs_number=nhs_number(7))
    assert nothing.status_code == 404 and nothing.content_type == "application/problem+json"
    assert export(h, referral_id=str(uuid.uuid4())).status_code == 404
    typo = export(h, nhs_number=nhs_number(1)[:-1] + str((int(nhs_number(1)[-1]) + 1) % 10))
    assert typo.status_code == 422 and [e["pointer"] for e in typo.get_json()["errors"]] == ["/nhs_number"]
    assert [e["pointer"] for e in export(h).get_json()["errors"]] == ["/nhs_number"]
    both_given = export(h, nhs_number=nhs_number(2), referral_id=str(uuid.uuid4()))
    assert both_given.status_code == 422 and [e["pointer"] for e in both_given.get_json()["errors"]] == ["/referral_id"]
    for who in (h.gp(), h.adviser(), h.token("org_admin", ADVISERS, "lead-1")):
        assert h.client.post("/people/subject-access", json={"nhs_number": nhs_number(2)},
                             headers=who).status_code == 403
    assert h.client.post("/people/subject-access", json={"nhs_number": nhs_number(2)}).status_code == 401
    assert audits(h, "export") == []


def erase(h, **body):
    return h.client.post("/people/erasure", json=body, headers=h.admin())


def test_erasure_on_request_cancels_open_referrals_with_consent_withdrawn_then_erases_every_one(both):
    h = both
    first, second = ada_history(h)
    other = someone_else(h)
    with h.ctx.database.engine.connect() as conn:
        other_before = dict(conn.execute(sa.select(Referral.__table__).where(Referral.id == uuid.UUID(other)))
                            .mappings().one())

    table = h.ctx.tables.outbox
    with h.ctx.database.transaction() as session:  # the relay sent the first status emails (kept a day)
        sent = session.execute(table.update().where(table.c.type == "notifications.person_message.requested")
                               .values(sent_at=h.clock.now)).rowcount
    assert sent >= 2

    done = erase(h, nhs_number=ADA["nhs_number"], reason="consent_withdrawn")
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"reason": "consent_withdrawn", "erased": [
        {"referral_id": first, "reference": done.get_json()["erased"][0]["reference"], "status": "cancelled",
         "cancelled": False, "already_erased": False},
        {"referral_id": second, "reference": done.get_json()["erased"][1]["reference"], "status": "cancelled",
         "cancelled": True, "already_erased": False}]}

    with h.ctx.database.engine.connect() as conn:
        rows = {str(r["id"]): dict(r) for r in conn.execute(sa.select(Referral.__table__)).mappings()}
    assert rows[other] == other_before  # someone else's referral is untouched
    for rid in (first, second):
        assert rows[rid]["erased_at"] is not None and rows[rid]["consent_withdrawn_at"] is not None
        assert (rows[rid]["given_name"], rows[rid]["nhs_number"], rows[rid]["email"], rows[rid]["reason"]) == (
            None, None, None, None)
    assert rows[second]["status_reason"] == "consent_withdrawn"
    # The adviser organisation hears of the cancellation; notifications is told to stop messages to her,
    # and no message with her address is left in the outbox, sent or not.
    events = outbox(h)
    assert [e["data"]["referral_id"] for e in events if e["type"] == "referrals.referral.cancelled"] == [first, second]
    assert {e["data"]["referral_id"] for e in events if e["type"] == "notifications.person_messages.revoked"} == {
        first, second}
    assert not any("ada@example.org" in json.dumps(e) for e in events)
    purpose = "erasure request: consent_withdrawn"
    assert audits(h, "erase") == [(first, purpose), (second, purpose)]

    assert export(h, nhs_number=ADA["nhs_number"]).status_code == 404  # nothing held by her NHS number now
    kept = export(h, referral_id=second).get_json()["referrals"]
    assert [r["id"] for r in kept] == [second]  # the erased referrals no longer link to each other
    assert kept[0]["person"]["given_name"] is None and kept[0]["erased_at"]
    again = erase(h, referral_id=first, reason="consent_withdrawn")
    assert again.status_code == 200 and again.get_json()["erased"][0]["already_erased"] is True
    assert len(audits(h, "erase")) == 2


def test_erasure_refusals(both):
    h = both
    someone_else(h)
    assert erase(h, nhs_number=nhs_number(7), reason="objection").status_code == 404
    wrong = erase(h, nhs_number=nhs_number(2), reason="because")
    assert wrong.status_code == 422 and [e["pointer"] for e in wrong.get_json()["errors"]] == ["/reason"]
    assert h.client.post("/people/erasure", json={"nhs_number": nhs_number(2), "reason": "objection"},
                         headers=h.adviser()).status_code == 403
    assert audits(h, "erase") == []


@pytest.mark.parametrize("path", ["/people/subject-access", "/people/erasure"])
def test_the_person_is_named_in_the_body_never_the_url(harness, path):
    spec = harness.client.get("/openapi.json").get_json()["paths"][path]
    assert list(spec) == ["post"] and not spec["post"].get("parameters")
