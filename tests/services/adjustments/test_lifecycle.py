"""Lifecycle transitions (legal and illegal), optimistic locking, practice scoping and the audit trail."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from worklink_adjustments import services
from worklink_adjustments.domain import uk_today
from worklink_adjustments.models import PLATFORM
from tests.services.adjustments.conftest import OTHER_PRACTICE, patient_reference, suggestion_body


def create(client, tokens, **overrides):
    response = client.post("/suggestions", json=suggestion_body(**overrides), headers=tokens.header())
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def outbox_types(app) -> list[str]:
    with app.extensions["worklink"].database.engine.connect() as conn:
        return [row.type for row in conn.execute(sa.select(PLATFORM.outbox.c.type).order_by(PLATFORM.outbox.c.position))]


def audit_rows(app) -> list:
    with app.extensions["worklink"].database.engine.connect() as conn:
        return conn.execute(sa.select(PLATFORM.audit_log).order_by(PLATFORM.audit_log.c.id)).all()


def test_draft_issue_amend_withdraw_and_illegal_moves(svc):
    app, client, tokens = svc
    draft = create(client, tokens)
    sid, h = draft["id"], tokens.header()
    edited = client.put(f"/suggestions/{sid}", json={**suggestion_body(functional_effects="Gets tired by noon."),
                                                     "version": 1}, headers=h)
    assert edited.status_code == 200 and edited.get_json()["version"] == 2
    assert outbox_types(app) == []  # drafts publish nothing

    stale = client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h)
    assert stale.status_code == 409 and stale.get_json()["current_version"] == 2
    issued = client.post(f"/suggestions/{sid}/issue", json={"version": 2}, headers=h)
    assert issued.status_code == 200
    body = issued.get_json()
    assert body["status"] == "issued" and body["version"] == 3 and body["issued_at"]
    assert body["employer_link_expires_at"]

    again = client.post(f"/suggestions/{sid}/issue", json={"version": 3}, headers=h)
    assert again.status_code == 409 and "cannot be issued" in again.get_json()["detail"]
    edit_issued = client.put(f"/suggestions/{sid}", json={**suggestion_body(), "version": 3}, headers=h)
    assert edit_issued.status_code == 409

    amended = client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(reassessment_needed=False),
                                                             "version": 3}, headers=h)
    assert amended.status_code == 200 and amended.get_json()["status"] == "amended"
    assert amended.get_json()["version"] == 4
    withdrawn = client.post(f"/suggestions/{sid}/withdraw", json={"version": 4, "reason": "patient_request"}, headers=h)
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    for path, payload in (("withdraw", {"version": 5, "reason": "other"}),
                          ("amend", {**suggestion_body(), "version": 5}), ("issue", {"version": 5})):
        response = client.post(f"/suggestions/{sid}/{path}", json=payload, headers=h)
        assert response.status_code == 409, path
        assert response.mimetype == "application/problem+json"
    assert outbox_types(app) == ["adjustments.suggestion.issued", "adjustments.suggestion.amended",
                                 "adjustments.suggestion.withdrawn"]
    draft_id = create(client, tokens, **{"consent.refer_to_employment_adviser": True})["id"]
    for path, payload in (("amend", {**suggestion_body(), "version": 1}),
                          ("withdraw", {"version": 1, "reason": "other"}),
                          ("referral-requests", {"version": 1})):
        response = client.post(f"/suggestions/{draft_id}/{path}", json=payload, headers=h)
        assert response.status_code == 409 and response.get_json()["current_status"] == "draft", path


def test_an_expired_or_replaced_suggestion_takes_no_further_move(svc):
    """Expired and superseded are ends, as withdrawn is: editing, issuing, amending, withdrawing and referring
    are each a 409 problem naming the status, and nothing is published."""
    app, client, tokens = svc
    h, today = tokens.header(), uk_today()
    ran_out = create(client, tokens)
    client.post(f"/suggestions/{ran_out['id']}/issue", json={"version": 1}, headers=h)
    database, outbox = app.extensions["worklink"].database, app.extensions["worklink"].outbox
    with database.transaction() as session:
        assert services.sweep(session, outbox, today + timedelta(days=29))["expired"] == 1
    replaced = create(client, tokens)
    client.post(f"/suggestions/{replaced['id']}/issue", json={"version": 1}, headers=h)
    newer = create(client, tokens, supersedes_id=replaced["id"])
    assert client.post(f"/suggestions/{newer['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    published = outbox_types(app)
    for sid, status in ((ran_out["id"], "expired"), (replaced["id"], "superseded")):
        version = client.get(f"/suggestions/{sid}", headers=h).get_json()["version"]
        for method, path, payload in (
                ("put", "", {**suggestion_body(), "version": version}), ("post", "/issue", {"version": version}),
                ("post", "/amend", {**suggestion_body(), "version": version}),
                ("post", "/withdraw", {"version": version, "reason": "other"}),
                ("post", "/referral-requests", {"version": version})):
            response = getattr(client, method)(f"/suggestions/{sid}{path}", json=payload, headers=h)
            assert response.status_code == 409 and response.mimetype == "application/problem+json", (status, path)
            assert response.get_json()["current_status"] == status, (status, path)
        assert client.get(f"/suggestions/{sid}", headers=h).get_json()["status"] == status
    assert outbox_types(app) == published


def test_an_amended_suggestion_is_amended_again_replaced_or_expires(svc):
    """'amended' is a live state, as 'issued' is: it takes a further amendment, a replacement and expiry."""
    app, client, tokens = svc
    h, today = tokens.header(), uk_today()

    def amended_twice() -> str:
        sid = create(client, tokens)["id"]
        assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h).status_code == 200
        for version in (2, 3):
            again = client.post(f"/suggestions/{sid}/amend", json={**suggestion_body(), "version": version}, headers=h)
            assert again.status_code == 200 and again.get_json()["status"] == "amended"
        return sid

    def status(sid: str) -> str:
        return client.get(f"/suggestions/{sid}", headers=h).get_json()["status"]

    replaced, ran_out = amended_twice(), amended_twice()
    newer = create(client, tokens, supersedes_id=replaced)
    assert client.post(f"/suggestions/{newer['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    assert status(replaced) == "superseded"
    database, outbox = app.extensions["worklink"].database, app.extensions["worklink"].outbox
    with database.transaction() as session:
        services.sweep(session, outbox, today + timedelta(days=29))
    assert status(ran_out) == "expired"
    types = outbox_types(app)
    assert types.count("adjustments.suggestion.amended") == 4
    assert types.count("adjustments.suggestion.withdrawn") == 1 and "adjustments.suggestion.expired" in types


def test_issuing_a_replacement_supersedes_the_old_one(svc):
    app, client, tokens = svc
    h = tokens.header()
    old = create(client, tokens)
    client.post(f"/suggestions/{old['id']}/issue", json={"version": 1}, headers=h)
    new = create(client, tokens, supersedes_id=old["id"])
    assert client.post(f"/suggestions/{new['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    old_now = client.get(f"/suggestions/{old['id']}", headers=h).get_json()
    assert old_now["status"] == "superseded" and old_now["superseded_by_id"] == new["id"]
    # A superseded suggestion cannot be replaced again.
    third = client.post("/suggestions", json=suggestion_body(supersedes_id=old["id"]), headers=h)
    assert third.status_code == 409
    with app.extensions["worklink"].database.engine.connect() as conn:
        payloads = [json.loads(p) for p in conn.execute(sa.select(PLATFORM.outbox.c.payload)).scalars()]
    withdrawn = [p["data"] for p in payloads if p["type"] == "adjustments.suggestion.withdrawn"]
    assert withdrawn == [{**withdrawn[0], "suggestion_id": old["id"], "reason": "replaced",
                          "superseded_by_id": new["id"]}]


def test_every_suggestion_endpoint_is_a_404_to_another_practice_and_exports_are_audited(svc):
    app, client, tokens = svc
    h = tokens.header()
    mine = create(client, tokens, **{"consent.refer_to_employment_adviser": True})
    sid = mine["id"]
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 1}, headers=h).status_code == 200
    other = tokens.header(org=OTHER_PRACTICE, subject="dr-other")
    for method, path, body in (
            ("put", "", {**suggestion_body(), "version": 2}), ("post", "/amend", {**suggestion_body(), "version": 2}),
            ("post", "/withdraw", {"version": 2, "reason": "other"}), ("post", "/referral-requests", {"version": 2}),
            ("get", "/letter.pdf", None), ("get", "/summary", None), ("get", "/summary.pdf", None)):
        response = getattr(client, method)(f"/suggestions/{sid}{path}", json=body, headers=other)
        assert response.status_code == 404, path
    assert client.get(f"/review/{sid}", headers=other).status_code == 404
    assert client.get("/suggestions?nhs_number=9434765919", headers=other).get_json()["total"] == 0
    assert outbox_types(app) == ["adjustments.suggestion.issued", "adjustments.referral.requested"]
    # The refused attempts read nothing, and each is audited as one, naming no patient.
    refused = [(r.action, r.resource_id, r.person_id) for r in audit_rows(app) if r.actor == "dr-other"]
    assert refused == [("denied", sid, None)] * 8

    for path in ("letter", "letter.pdf", "summary", "summary.pdf"):
        assert client.get(f"/suggestions/{sid}/{path}", headers=h).status_code == 200, path
    exports = [(r.action, r.purpose, r.person_id) for r in audit_rows(app) if r.action == "export"]
    patient = patient_reference(app, "9434765919")
    assert exports == [("export", "print_letter", patient)] * 2 + [("export", "print_summary", patient)] * 2


def test_a_suggestion_replaces_or_amends_only_the_same_patients_advice(svc):
    app, client, tokens = svc
    h = tokens.header()
    theirs = create(client, tokens, **{"patient.nhs_number": "9434765870", "patient.given_name": "Alex"})
    assert client.post(f"/suggestions/{theirs['id']}/issue", json={"version": 1}, headers=h).status_code == 200
    replacing = client.post("/suggestions", json=suggestion_body(supersedes_id=theirs["id"]), headers=h)
    assert replacing.status_code == 422 and replacing.get_json()["errors"][0]["pointer"] == "/supersedes_id"
    # Nor by editing a draft that replaces the right patient's into another patient's.
    mine = create(client, tokens)
    client.post(f"/suggestions/{mine['id']}/issue", json={"version": 1}, headers=h)
    draft = create(client, tokens, supersedes_id=mine["id"])
    moved = client.put(f"/suggestions/{draft['id']}", headers=h, json={
        **suggestion_body(supersedes_id=mine["id"], **{"patient.nhs_number": "9434765870"}), "version": 1})
    assert moved.status_code == 422 and moved.get_json()["errors"][0]["pointer"] == "/supersedes_id"

    other_patient = client.post(f"/suggestions/{theirs['id']}/amend", headers=h, json={
        **suggestion_body(), "version": 2})
    assert other_patient.status_code == 422
    assert other_patient.get_json()["errors"][0]["pointer"] == "/patient/nhs_number"
    still = client.get(f"/suggestions/{theirs['id']}", headers=h).get_json()
    assert still["status"] == "issued" and still["patient"]["nhs_number"] == "9434765870"
    assert outbox_types(app) == ["adjustments.suggestion.issued"] * 2


def test_sweep_expires_ended_periods_and_announces_reviews(svc):
    app, client, tokens = svc
    h = tokens.header()
    today = uk_today()
    s = create(client, tokens, review_date=(today + timedelta(days=7)).isoformat())
    client.post(f"/suggestions/{s['id']}/issue", json={"version": 1}, headers=h)
    database = app.extensions["worklink"].database
    outbox = app.extensions["worklink"].outbox
    with database.transaction() as session:
        assert services.sweep(session, outbox, today) == {"expired": 0, "review_due": 0}
    with database.transaction() as session:
        assert services.sweep(session, outbox, today + timedelta(days=7)) == {"expired": 0, "review_due": 1}
    with database.transaction() as session:  # announced once only
        assert services.sweep(session, outbox, today + timedelta(days=8)) == {"expired": 0, "review_due": 0}
    with database.transaction() as session:
        assert services.sweep(session, outbox, today + timedelta(days=29)) == {"expired": 1, "review_due": 0}
    assert client.get(f"/suggestions/{s['id']}", headers=h).get_json()["status"] == "expired"
    assert client.post(f"/suggestions/{s['id']}/withdraw", json={"version": 3, "reason": "other"},
                       headers=h).status_code == 409
    assert outbox_types(app)[-2:] == ["adjustments.suggestion.review_due", "adjustments.suggestion.expired"]


def test_an_amended_review_date_is_announced_when_it_comes(svc):
    app, client, tokens = svc
    h, today = tokens.header(), uk_today()
    s = create(client, tokens, review_date=(today + timedelta(days=3)).isoformat())
    client.post(f"/suggestions/{s['id']}/issue", json={"version": 1}, headers=h)
    database, outbox = app.extensions["worklink"].database, app.extensions["worklink"].outbox
    with database.transaction() as session:
        assert services.sweep(session, outbox, today + timedelta(days=3))["review_due"] == 1
    same_date = client.post(f"/suggestions/{s['id']}/amend", headers=h, json={
        **suggestion_body(review_date=(today + timedelta(days=3)).isoformat()), "version": 2})
    assert same_date.status_code == 200
    with database.transaction() as session:  # the same date is not announced twice
        assert services.sweep(session, outbox, today + timedelta(days=4))["review_due"] == 0
    later = client.post(f"/suggestions/{s['id']}/amend", headers=h, json={
        **suggestion_body(review_date=(today + timedelta(days=20)).isoformat()), "version": 3})
    assert later.status_code == 200
    with database.transaction() as session:
        assert services.sweep(session, outbox, today + timedelta(days=19))["review_due"] == 0
    with database.transaction() as session:
        assert services.sweep(session, outbox, today + timedelta(days=20))["review_due"] == 1
    with database.engine.connect() as conn:
        due = [json.loads(p)["data"] for p in conn.execute(sa.select(PLATFORM.outbox.c.payload).where(
            PLATFORM.outbox.c.type == "adjustments.suggestion.review_due")).scalars()]
    assert [d["review_date"] for d in due] == [(today + timedelta(days=n)).isoformat() for n in (3, 20)]


def test_another_practice_sees_nothing_and_every_read_is_audited(svc):
    app, client, tokens = svc
    mine = create(client, tokens)
    other = tokens.header(org=OTHER_PRACTICE, subject="dr-other")
    assert client.get(f"/suggestions/{mine['id']}", headers=other).status_code == 404
    assert client.post(f"/suggestions/{mine['id']}/issue", json={"version": 1}, headers=other).status_code == 404
    assert client.get(f"/suggestions/{mine['id']}/letter", headers=other).status_code == 404
    assert client.get("/suggestions", headers=other).get_json() == {"items": [], "total": 0}
    replacing = client.post("/suggestions", json=suggestion_body(supersedes_id=mine["id"]), headers=other)
    assert replacing.status_code == 422  # a field of the body, refused as if there were no such suggestion
    assert replacing.get_json()["errors"] == [{"location": "json", "pointer": "/supersedes_id",
                                               "detail": f"No suggestion {mine['id']} to replace."}]

    assert client.get(f"/suggestions/{mine['id']}", headers=tokens.header()).status_code == 200
    listing = client.get("/suggestions", headers=tokens.header()).get_json()
    assert listing["total"] == 1 and listing["items"][0]["nhs_number"] == "9434765919"
    rows = audit_rows(app)
    assert [(r.action, r.actor) for r in rows] == [("create", "dr-ada")] + [("denied", "dr-other")] * 3 + [
        ("read", "dr-ada"), ("list", "dr-ada")]
    # One query finds every access, the refused ones too (privacy audit 2, #4: they were "suggestion").
    assert all((r.resource_type, r.resource_id) == ("adjustment_suggestion", mine["id"]) for r in rows)
    assert [r.person_id for r in rows if r.action != "denied"] == [
        patient_reference(app, "9434765919")] * 3  # a refusal names no patient
    assert [r.purpose for r in rows if r.action == "denied"] == [
        "GET /suggestions/<uuid:suggestion_id> -> 404", "POST /suggestions/<uuid:suggestion_id>/issue -> 404",
        "GET /suggestions/<uuid:suggestion_id>/<any(letter, summary):kind> -> 404"]
    assert client.get("/suggestions", headers=tokens.header(role="alliance_admin", org=None)).status_code == 403


def test_every_view_naming_a_suggestion_audits_refusals_under_the_type_its_reads_use(app):
    marked = {rule.rule: getattr(view, "worklink_person_record", None)
                         or getattr(getattr(view, "view_class", None), "worklink_person_record", None)
              for rule in app.url_map.iter_rules() for view in [app.view_functions[rule.endpoint]]
              if "suggestion_id" in rule.arguments}
    assert len(marked) >= 10 and set(marked.values()) == {(services.RESOURCE, "suggestion_id")}, marked
