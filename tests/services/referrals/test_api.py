"""The referrals JSON API: intake, lifecycle, locking, scope, audit, consent, duplicates, routing, clocks."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from worklink_referrals import access, services
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import Referral, RoutingAlert, SustainmentCheck
from tests.browser import sealed
from tests.services.referrals.conftest import (ADVISERS, OTHER_ADVISERS, OTHER_SERVICE, SERVICE, nhs_number,
                                              referral_body)


def outbox_types(h) -> list[str]:
    table = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        return [t for (t,) in conn.execute(sa.select(table.c.type).order_by(table.c.position))]


def outbox_payloads(h, event_type: str) -> list[dict]:
    table = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.payload).where(table.c.type == event_type).order_by(table.c.position))
        return [json.loads(p)["data"] for (p,) in rows]


def audit_rows(h, **where) -> list:
    table = h.ctx.tables.audit_log
    with h.ctx.database.engine.connect() as conn:
        query = sa.select(table).where(*(table.c[k] == v for k, v in where.items())).order_by(table.c.id)
        return list(conn.execute(query))


def test_a_referral_from_request_to_completed_with_outcomes(both):
    h = both
    created = h.refer()
    assert created.status_code == 201, created.get_json()
    referral = created.get_json()
    rid = referral["id"]
    assert referral["status"] == "submitted" and referral["fhir_status"] == "requested"
    assert referral["service_id"] == str(SERVICE) and referral["assigned_org_id"] == ADVISERS
    assert "status_link" not in referral and referral["status_link_sent_to"] == "none"  # never the referrer's

    queue = h.client.get("/referrals?view=new", headers=h.adviser()).get_json()
    assert [i["id"] for i in queue["items"]] == [rid]
    assert h.act(rid, "acknowledge").get_json()["status"] == "triage"
    accepted = h.act(rid, "accept", adviser_id="adviser-1").get_json()
    assert (accepted["status"], accepted["business_status"]) == ("accepted", "allocated")
    h.clock.advance(days=1)
    attempt = h.act(rid, "record_contact_attempt", channel="phone", result="no_answer").get_json()
    assert attempt["business_status"] == "contact_attempted" and len(attempt["attempts"]) == 1
    assert h.act(rid, "make_first_contact").get_json()["status"] == "in_progress"
    assert h.act(rid, "update_progress", business_status="job_search").get_json()["business_status"] == "job_search"
    outcome = h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-24", hours_band="16_to_29")
    assert outcome.status_code == 200, outcome.get_json()
    done = h.act(rid, "complete", end_reason="goals_met").get_json()
    assert done["status"] == "completed" and done["fhir_status"] == "completed"
    # A terminal referral still takes the 13-week sustainment check, once it is due.
    h.clock.advance(weeks=13)
    later = h.act(rid, "record_outcome", type="sustained_job_outcome", occurred_on="2027-02-23",
                  weeks_in_work=13, period_weeks=16, hours_per_week=20, sustainment_check_weeks=13)
    assert later.status_code == 200, later.get_json()
    assert [o["type"] for o in later.get_json()["outcomes"]] == ["job_start", "sustained_job_outcome"]
    assert h.act(rid, "make_first_contact").status_code == 409

    with h.ctx.database.transaction() as session:
        checks = {c.weeks: c for c in session.scalars(sa.select(SustainmentCheck))}
    assert checks[13].done_at is not None and checks[26].done_at is None

    assert outbox_types(h) == [
        "referrals.referral.submitted", "referrals.referral.received",
        "referrals.referral.accepted", "referrals.referral.allocated",
        "referrals.referral.first_contact_made", "referrals.referral.outcome_recorded",
        "referrals.referral.completed", "referrals.referral.feedback_ready",
        "referrals.referral.outcome_recorded", "referrals.referral.feedback_ready",
    ]
    feedback = outbox_payloads(h, "referrals.referral.feedback_ready")[-1]
    assert feedback["outcome_types"] == ["job_start", "sustained_job_outcome"] and feedback["outcomes_shareable"]
    versions = [e["version"] for e in outbox_payloads(h, "referrals.referral.completed")]
    assert versions == [done["version"]]
    history = h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()["history"]
    assert [step["action"] for step in history][:3] == ["submit", "acknowledge", "accept"]


def test_illegal_and_stale_updates_are_conflicts(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    illegal = h.act(rid, "complete", end_reason="goals_met")
    assert illegal.status_code == 409 and illegal.mimetype == "application/problem+json"
    assert "acknowledge" in illegal.get_json()["allowed_actions"]
    fresh = h.act(rid, "acknowledge", version=1)
    assert fresh.status_code == 200
    stale = h.act(rid, "accept", version=1)
    assert stale.status_code == 409 and stale.get_json()["current_version"] == 2
    missing = h.act(rid, "reject", reason="other")
    assert missing.status_code == 422
    assert missing.get_json()["errors"] == [{"location": "json", "pointer": "/text",
                                             "detail": "explain the 'other' reason"}]
    assert h.client.post(f"/referrals/{rid}/actions/accept", json={}, headers=h.adviser()).status_code == 422
    assert h.client.post(f"/referrals/{rid}/actions/teleport", json={"version": 2},
                         headers=h.adviser()).status_code == 404


def test_a_concurrent_writer_cannot_overwrite_silently(both):
    """Two writers read version 1; the database refuses the second UPDATE (no lost update)."""
    h = both
    rid = uuid.UUID(h.refer().get_json()["id"])
    settings, db = ReferralSettings(), h.ctx.database
    first, second = db.sessions(), db.sessions()
    try:
        theirs = second.get(Referral, rid)
        second.commit()  # their read is done; they act on what they read (version 1)
        mine = first.get(Referral, rid)
        adviser = access.Actor("adviser-1", "adviser", ADVISERS)
        services.act(first, h.ctx.outbox, settings, mine, "acknowledge", adviser, {}, expected_version=1,
                     now=h.clock.now)
        first.commit()
        try:
            with access.domain_problems():
                services.act(second, h.ctx.outbox, settings, theirs, "reject", adviser, {"reason": "out_of_area"},
                             expected_version=1, now=h.clock.now)
            raise AssertionError("the stale write went through")
        except Exception as exc:  # noqa: BLE001
            assert getattr(exc, "status", None) == 409, exc
        second.rollback()
    finally:
        first.close()
        second.close()
    assert h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["status"] == "triage"


def test_only_the_assigned_org_the_referrer_and_the_alliance_can_read_and_every_read_is_audited(both):
    h = both
    rid = h.refer().get_json()["id"]
    for outsider in (h.adviser(org=OTHER_ADVISERS), h.token("gp", OTHER_ADVISERS, "gp-9")):
        assert h.client.get(f"/referrals/{rid}", headers=outsider).status_code == 404
        assert h.client.get("/referrals", headers=outsider).get_json()["items"] == []
    assert h.client.get(f"/referrals/{rid}", headers=h.token("resident", None, "r1")).status_code == 403
    assert h.client.get(f"/referrals/{rid}").status_code == 401
    for reader in (h.adviser(), h.gp(), h.admin()):
        body = h.client.get(f"/referrals/{rid}", headers=reader).get_json()
        assert body["person"]["family_name"] == "Lovelace"
    reads = audit_rows(h, resource_id=rid, action="read")
    assert sorted(r.actor_role for r in reads) == ["adviser", "alliance_admin", "gp"]
    # The refused attempts are audited too: who tried, and how they were answered.
    refused = [(r.actor_role, r.actor_org, r.purpose) for r in audit_rows(h, resource_id=rid, action="denied")]
    assert refused == [("adviser", OTHER_ADVISERS, "GET /referrals/<uuid:referral_id> -> 404"),
                       ("gp", OTHER_ADVISERS, "GET /referrals/<uuid:referral_id> -> 404"),
                       ("resident", None, "GET /referrals/<uuid:referral_id> -> 403")]
    h.client.get("/referrals", headers=h.adviser())
    assert len(audit_rows(h, resource_id=rid, action="list")) == 1
    # Adviser notes stay with the adviser organisation.
    h.client.post(f"/referrals/{rid}/notes", json={"text": "Prefers mornings"}, headers=h.adviser())
    assert "notes" not in h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "x"}, headers=h.gp()).status_code == 403
    assert audit_rows(h, resource_id=rid, action="denied")[-1].purpose == \
        "POST /referrals/<uuid:referral_id>/notes -> 403"


def test_consent_is_required_and_withdrawal_cancels_and_stops_sharing(both):
    h = both
    body = h.refer().get_json()
    no_consent = h.client.post("/referrals", json={k: v for k, v in body.items() if False} or {
        "person": body["person"], "employment_situation": "unemployed"}, headers=h.gp())
    assert no_consent.status_code == 422
    assert {"location": "json", "pointer": "/consent", "detail": "Missing data for required field."} in \
        no_consent.get_json()["errors"]
    implicit = referral_body({"nhs_number": "9999999980"})
    implicit["consent"]["explicit"] = False
    assert h.client.post("/referrals", json=implicit, headers=h.gp()).status_code == 422
    future = referral_body({"nhs_number": "9999999980"})
    future["consent"]["captured_at"] = "2026-11-23T10:00:00Z"  # the clock says 09:00
    refused = h.client.post("/referrals", json=future, headers=h.gp())
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["pointer"] == "/consent/captured_at"

    rid = body["id"]
    withdrawn = h.client.post(f"/referrals/{rid}/consent-withdrawal", headers=h.gp()).get_json()
    assert withdrawn["status"] == "cancelled" and withdrawn["status_reason"] == "consent_withdrawn"
    adviser_view = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert "person" not in adviser_view and "reason" not in adviser_view
    assert "name" not in h.client.get("/referrals", headers=h.adviser()).get_json()["items"][0]
    assert "referrals.referral.cancelled" in outbox_types(h)
    assert "referrals.referral.feedback_ready" not in outbox_types(h)
    assert "notifications.person_message.requested" not in outbox_types(h)  # only self-referrers are told


PERSON_DETAILS = ("Lovelace", "Ada", "9434765919", "01452 000000", "GL1 2AB", "1985-12-10", "10 December 1985",
                  "Back pain", "Prefers mornings", "second condition")


def test_after_withdrawal_no_role_sees_the_persons_details_anywhere_and_every_read_is_audited(both):
    """Withdrawal ends processing on consent for everyone: adviser organisation, referrer and alliance
    admins alike, in the API (detail and list) and on every page. The referral's existence, status,
    dates and codes stay for audit and insights; every read is still audited."""
    h = both
    rid = h.refer(duplicate={"reason": "second condition"}, health_category="musculoskeletal").get_json()["id"]
    h.client.post(f"/referrals/{rid}/notes", json={"text": "Prefers mornings"}, headers=h.adviser())
    for action, data in (("acknowledge", {}), ("accept", {"adviser_id": "adviser-1"}),
                         ("record_contact_attempt", {"channel": "phone", "result": "no_answer"})):
        assert h.act(rid, action, **data).status_code == 200
    readers = {"adviser": h.adviser(), "gp": h.gp(), "alliance_admin": h.admin()}
    for headers in readers.values():  # before: each reader sees who it is
        assert h.client.get(f"/referrals/{rid}", headers=headers).get_json()["person"]["family_name"] == "Lovelace"

    withdrawn = h.client.post(f"/referrals/{rid}/consent-withdrawal", headers=h.gp()).get_json()
    assert withdrawn["status"] == "cancelled" and "person" not in withdrawn
    reads_before = len(audit_rows(h, resource_id=rid, action="read"))
    for role, headers in readers.items():
        view = h.client.get(f"/referrals/{rid}", headers=headers).get_json()
        assert not any(detail in json.dumps(view) for detail in PERSON_DETAILS), (role, view)
        assert {"person", "reason", "employment_situation", "health_category", "adjustment",
                "duplicate_reason"}.isdisjoint(view), role
        # What stays: the referral, its status and dates, consent metadata, codes.
        assert (view["reference"], view["status"], view["status_reason"]) == (
            withdrawn["reference"], "cancelled", "consent_withdrawn"), role
        assert view["submitted_at"] and view["closed_at"] and view["consent"]["withdrawn_at"], role
        assert view["history"][-1]["action"] == "cancel", role
        if role != "gp":  # the adviser side keeps the codes of its work, never the text of its notes
            assert [(a["channel"], a["result"]) for a in view["attempts"]] == [("phone", "no_answer")]
            assert len(view["notes"]) == 1 and "text" not in view["notes"][0] and view["notes"][0]["by"]
        views = [None, "sent"] if role == "gp" else [None, "all"]
        for listed in views:
            items = h.client.get("/referrals" + (f"?view={listed}" if listed else ""), headers=headers).get_json()
            item = next(i for i in items["items"] if i["id"] == rid)
            assert "name" not in item and "area" not in item and item["status"] == "cancelled", (role, item)
    reads = audit_rows(h, resource_id=rid, action="read")[reads_before:]
    assert sorted(r.actor_role for r in reads) == ["adviser", "alliance_admin", "gp"]  # still audited

    # Pages: the referral page, the queue (adviser and alliance) and the referrer's /sent list.
    for role, path in (("alliance_admin", f"/queue/{rid}"), ("adviser", f"/queue/{rid}"), ("gp", f"/queue/{rid}"),
                       ("alliance_admin", "/queue?view=all"), ("adviser", "/queue?view=all"), ("gp", "/sent")):
        h.client.set_cookie("worklink_session", sealed(h.app, readers[role]["Authorization"].split()[1]))
        page = h.client.get(path, headers={"Accept": "text/html"})
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and "R-" in text, (role, path)
        assert not any(detail in text for detail in PERSON_DETAILS), (role, path)
        if path.startswith("/queue/"):
            assert "Details withheld (consent withdrawn)" in text and "Add a note" not in text
    assert len(audit_rows(h, resource_id=rid, action="read")) == reads_before + 6  # 3 API + 3 referral pages

    # Nothing more is written about the person: no new case note.
    refused = h.client.post(f"/referrals/{rid}/notes", json={"text": "Called back"}, headers=h.adviser())
    assert refused.status_code == 409 and refused.content_type == "application/problem+json"


def accepted_self_referral(h, email: str) -> tuple[str, str]:
    """A verified self-referral from someone who agreed to status emails, accepted by an adviser:
    (the person's status link, the referral id)."""
    pending = h.client.post("/self-referrals", json=self_referral(email)).get_json()
    link = h.client.post(f"/self-referrals/{pending['id']}/verification",
                         json={"code": pending["code"]}).get_json()["status_link"]
    link = link.replace("/my-referral/", "/status/")  # the JSON API of the person's page
    rid = h.client.get("/referrals", headers=h.adviser()).get_json()["items"][0]["id"]
    assert h.act(rid, "accept", adviser_id="adviser-1").status_code == 200
    return link, rid


def test_after_the_person_withdraws_nothing_about_them_goes_to_notifications_or_to_any_reader(harness):
    """A self-referrer who agreed to status emails withdraws through their link: not even the closing
    message is handed to notifications, the ones still waiting in the outbox are dropped (the relay has
    not run), and no reader, the alliance included, sees their address."""
    h = harness
    link, rid = accepted_self_referral(h, "kim@example.org")
    other = h.client.post("/self-referrals", json=self_referral("kim@example.org")).get_json()  # the same person
    assert h.client.post(f"/self-referrals/{other['id']}/verification", json={"code": other["code"]}).status_code == 201
    told = outbox_payloads(h, "notifications.person_message.requested")
    assert [m["message_code"] for m in told if m["referral_id"] == rid] == [
        "referral_received", "referral_accepted"]  # the person agreed to updates (the adviser: no second one)
    table = h.ctx.tables.outbox
    with h.ctx.database.transaction() as session:  # the relay sent the first one before the withdrawal
        first = [m for m in told if m["referral_id"] == rid][0]["message_id"]
        session.execute(table.update().where(table.c.payload.contains(first)).values(sent_at=h.clock.now))
    assert h.client.post(link + "/cancel", json={"withdraw_consent": True}).get_json()["consent_withdrawn"]
    left = outbox_payloads(h, "notifications.person_message.requested")
    assert [m["message_code"] for m in left if m["referral_id"] == rid] == ["referral_received"]  # already sent
    assert [m for m in left if m["referral_id"] != rid] == [m for m in told if m["referral_id"] != rid]
    for reader in (h.admin(), h.adviser()):
        view = h.client.get(f"/referrals/{rid}", headers=reader).get_json()
        assert view["status"] == "cancelled" and "kim@example.org" not in json.dumps(view)


def test_a_status_email_the_relay_sends_while_consent_is_withdrawn_keeps_its_row(both):
    """The withdrawal reads the waiting messages, then deletes them: one the relay sends in between
    (it cannot be called back) keeps its row, marked sent, rather than vanishing from the history."""
    h = both
    link, rid = accepted_self_referral(h, "kim@example.org")
    table = h.ctx.tables.outbox
    with h.ctx.database.transaction() as session:
        waiting = [(row.position, row.id) for row in session.execute(
            sa.select(table.c.position, table.c.id, table.c.payload).where(
                table.c.type == "notifications.person_message.requested")).all()
            if json.loads(row.payload)["data"]["referral_id"] == rid]
    assert len(waiting) >= 2
    (sent_position, sent_id), *dropped = waiting

    def relay_sends_the_first(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE FROM OUTBOX"):
            raw = conn.connection.cursor()  # what the relay's own transaction did just before
            raw.execute(f"UPDATE outbox SET sent_at = CURRENT_TIMESTAMP WHERE position = {int(sent_position)}")
            raw.close()

    engine = h.ctx.database.engine
    sa.event.listen(engine, "before_cursor_execute", relay_sends_the_first)
    try:
        assert h.client.post(link + "/cancel", json={"withdraw_consent": True}).get_json()["consent_withdrawn"]
    finally:
        sa.event.remove(engine, "before_cursor_execute", relay_sends_the_first)
    with h.ctx.database.transaction() as session:
        left = session.execute(sa.select(table.c.id, table.c.sent_at).where(
            table.c.id.in_([sent_id, *(row_id for _, row_id in dropped)]))).all()
    assert [(row_id, sent is not None) for row_id, sent in left] == [(sent_id, True)]


def test_duplicates_are_refused_or_linked_and_re_referrals_record_what_they_replace(harness):
    h = harness
    first = h.refer().get_json()
    again = h.refer()
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == first["id"]
    by_demographics = h.refer({"nhs_number": "1111111138", "given_name": " ada ", "postcode": "gl12ab"})
    assert by_demographics.status_code == 409
    linked = h.refer(duplicate={"reason": "second condition, GP wants a separate referral"})
    assert linked.status_code == 201 and linked.get_json()["duplicate_of_id"] == first["id"]
    elsewhere = h.refer(service_id=str(OTHER_SERVICE))  # another service: not a duplicate (held: unknown service)
    assert elsewhere.status_code == 201 and elsewhere.get_json()["routing"] == "held"
    outside_consent = h.client.post(f"/referrals/{elsewhere.get_json()['id']}/route",
                                    json={"service_id": str(SERVICE)}, headers=h.admin())
    assert outside_consent.status_code == 409 and outside_consent.get_json()["consent_scope_service_id"] == \
        str(OTHER_SERVICE)

    still_open = h.refer(replaces_id=first["id"], duplicate={"reason": "re-referral"})
    assert still_open.status_code == 409
    h.act(first["id"], "cancel", headers=h.gp(), reason="referrer_withdrew")
    h.act(linked.get_json()["id"], "cancel", headers=h.gp(), reason="referrer_withdrew")
    assert h.refer(replaces_id=first["id"]).get_json()["duplicate_of"] == elsewhere.get_json()["id"]  # still open
    h.act(elsewhere.get_json()["id"], "cancel", headers=h.gp(), reason="referrer_withdrew")
    again = h.refer(replaces_id=first["id"])
    assert again.status_code == 201 and again.get_json()["replaces_id"] == first["id"]
    stranger = h.refer({"given_name": "Grace", "family_name": "Hopper", "nhs_number": "2222222230"},
                       replaces_id=first["id"])
    assert stranger.status_code == 400 or stranger.status_code == 422


def test_nothing_can_take_it_so_it_is_held_and_the_alliance_routes_it(make_harness):
    h = make_harness()
    held = h.refer().get_json()
    assert held["routing"] == "held" and held["assigned_org_id"] is None
    assert "referrals.referral.held" in outbox_types(h)
    assert [i["id"] for i in h.client.get("/referrals?view=held", headers=h.admin()).get_json()["items"]] \
        == [held["id"]]
    assert h.client.get(f"/referrals/{held['id']}", headers=h.adviser()).status_code == 404
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    routed = h.client.post(f"/referrals/{held['id']}/route", json={"service_id": str(OTHER_SERVICE)},
                           headers=h.admin())
    assert routed.status_code == 200 and routed.get_json()["assigned_org_id"] == OTHER_ADVISERS
    with h.ctx.database.transaction() as session:
        assert session.get(RoutingAlert, uuid.UUID(held["id"])).resolved_at is not None
    assert h.client.get(f"/referrals/{held['id']}", headers=h.adviser(org=OTHER_ADVISERS)).status_code == 200
    assert [(a.actor, a.actor_role) for a in audit_rows(h, resource_id=held["id"], action="share")] == [
        ("admin-1", "alliance_admin")]


def test_the_acknowledge_clock_waits_while_a_referral_is_held_and_runs_from_its_routing(make_harness):
    """No organisation can acknowledge a held referral (the alliance is alerted instead): the service
    it is routed to gets its full two working days from then."""
    h = make_harness()
    settings = h.app.extensions["referrals"]["settings"]
    rid = h.refer().get_json()["id"]  # Monday 09:00, held

    def breaches():
        with h.ctx.database.transaction() as session:
            return services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now)

    h.clock.advance(days=3)  # Thursday: two working days after submission have passed
    assert breaches() == []
    assert h.client.get(f"/referrals/{rid}", headers=h.admin()).get_json()["clocks"] == []
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    routed = h.client.post(f"/referrals/{rid}/route", json={"service_id": str(OTHER_SERVICE)}, headers=h.admin())
    assert [(c["clock"], c["due_at"][:16]) for c in routed.get_json()["clocks"]] == [
        ("acknowledge", "2026-11-30T09:00")]  # Thursday + two working days
    h.clock.now = datetime(2026, 11, 30, 8, 59, tzinfo=timezone.utc)
    assert breaches() == []
    h.clock.advance(minutes=2)
    assert breaches() == [(uuid.UUID(rid), "acknowledge")]


def test_a_held_referral_routed_automatically_is_audited_as_shared(make_harness):
    h = make_harness()
    held = h.refer().get_json()
    h.add_service()
    with h.ctx.database.transaction() as session:
        assert services.route_waiting(session, h.ctx.outbox, ReferralSettings(), h.clock.now) == 1
    assert h.client.get(f"/referrals/{held['id']}", headers=h.adviser()).get_json()["routing"] == "routed"
    assert [(a.actor, a.actor_role, a.purpose) for a in audit_rows(h, resource_id=held["id"], action="share")] == [
        ("system", "system", "routed automatically")]


def test_routing_prefers_the_area_and_the_lighter_caseload(make_harness):
    h = make_harness()
    h.add_service(SERVICE, ADVISERS, areas=["GL50"])
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    assert h.refer().get_json()["service_id"] == str(OTHER_SERVICE)  # GL1 is not served by SERVICE
    cheltenham = h.refer({"postcode": "GL50 1AA", "nhs_number": "3333333341", "given_name": "Bo"}).get_json()
    assert cheltenham["service_id"] == str(SERVICE)  # both serve GL50; SERVICE has the lighter load


def test_self_referral_verifies_the_contact_route_and_gives_a_private_link(both):
    h = both
    body = {"person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                       "postcode": "GL1 1AA", "email": "sam@example.org"},
            "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}
    assert h.client.post("/self-referrals", json={**body, "consent": {"explicit": False}}).status_code == 422
    pending = h.client.post("/self-referrals", json=body)
    assert pending.status_code == 202 and pending.get_json()["sent_to"] == "email"
    pid, code = pending.get_json()["id"], pending.get_json()["code"]
    wrong = h.client.post(f"/self-referrals/{pid}/verification", json={"code": "000000" if code != "000000"
                                                                        else "111111"})
    assert wrong.status_code == 400 and wrong.get_json()["attempts_left"] == 4
    verified = h.client.post(f"/self-referrals/{pid}/verification", json={"code": code})
    assert verified.status_code == 201, verified.get_json()
    page_link = verified.get_json()["status_link"]
    assert page_link.startswith("/my-referral/") and h.client.get(page_link).status_code == 200
    link = page_link.replace("/my-referral/", "/status/")  # its JSON API
    assert h.client.post(f"/self-referrals/{pid}/verification", json={"code": code}).status_code == 404
    status = h.client.get(link).get_json()
    assert status["status"] == "submitted" and "adviser" in status["status_text"]
    rid = h.client.get("/referrals", headers=h.adviser()).get_json()["items"][0]["id"]
    detail = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert detail["source"] == "self" and detail["consent"]["method"] == "online"
    assert h.client.get("/status/not-a-real-link").status_code == 404
    h.act(rid, "accept", adviser_id="adviser-1")
    cancelled = h.client.post(link + "/cancel", json={})
    assert cancelled.get_json()["status"] == "cancelled"
    # The person hears how it goes (coded messages to the verified email, restricted topic).
    told = outbox_payloads(h, "notifications.person_message.requested")
    assert [(m["message_code"], m["contact"]["address"], m["referral_id"]) for m in told] == [
        ("self_referral_code", "sam@example.org", None),  # the code itself goes by email too
        ("referral_received", "sam@example.org", rid), ("referral_accepted", "sam@example.org", rid),
        ("referral_closed", "sam@example.org", rid)]  # the adviser named at acceptance: no second message
    assert told[0]["verification_code"] == code and all("verification_code" not in m for m in told[1:])
    assert told[1]["status_link"] == page_link  # received when taken in, with the link shown on screen
    assert len({m["message_id"] for m in told}) == 4
    assert len({m["consent_id"] for m in told}) == 1  # the agreement on the form is the referral's consent
    assert {r.actor_role for r in audit_rows(h, resource_id=rid)} >= {"resident", "adviser"}


def test_unverified_self_referrals_are_forgotten_when_the_code_expires(harness):
    from worklink_referrals import jobs
    from worklink_referrals.models import PendingSelfReferral

    h = harness
    h.client.post("/self-referrals", json={
        "person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "phone": "07700 900000"},
        "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"})
    jobs.run_once(h.ctx.database, ReferralSettings(), h.clock.now)
    with h.ctx.database.transaction() as session:
        assert session.query(PendingSelfReferral).count() == 1
    jobs.run_once(h.ctx.database, ReferralSettings(), h.clock.now + timedelta(minutes=31))
    with h.ctx.database.transaction() as session:
        assert session.query(PendingSelfReferral).count() == 0


def test_working_day_clocks_breach_once_and_show_in_the_breaching_queue(both):
    h = both
    rid = h.refer().get_json()["id"]  # Monday 09:00: acknowledge due Wednesday 09:00
    settings = h.app.extensions["referrals"]["settings"]
    with h.ctx.database.transaction() as session:
        assert services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now) == []
    h.clock.advance(days=2, minutes=1)
    with h.ctx.database.transaction() as session:
        found = services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now)
    assert found == [(uuid.UUID(rid), "acknowledge")]
    with h.ctx.database.transaction() as session:
        assert services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now) == []
    breach = outbox_payloads(h, "referrals.referral.sla_breached")
    assert [(b["clock"], b["due_at"]) for b in breach] == [("acknowledge", "2026-11-25T09:00:00Z")]
    queue = h.client.get("/referrals?view=breaching", headers=h.adviser()).get_json()
    assert queue["items"][0]["breached_clocks"] == ["acknowledge"]
    h.act(rid, "accept", adviser_id="adviser-1")  # Wednesday: first contact attempt due next Wednesday
    h.clock.advance(days=6)
    with h.ctx.database.transaction() as session:
        assert services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now) == []
    h.clock.advance(days=1, minutes=1)
    with h.ctx.database.transaction() as session:
        assert services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now) == [
            (uuid.UUID(rid), "first_contact_attempt")]


def test_clocks_pause_while_on_hold_and_the_deadline_moves_by_the_working_days_held(both):
    h = both
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")  # Monday 23rd 09:00: first contact attempt due Monday 30th 09:00
    settings = h.app.extensions["referrals"]["settings"]

    def due(clock):
        return {c["clock"]: c["due_at"] for c in h.client.get(f"/referrals/{rid}", headers=h.adviser()
                                                               ).get_json()["clocks"]}[clock][:16]

    def breaches():
        with h.ctx.database.transaction() as session:
            return services.detect_breaches(session, h.ctx.outbox, settings, h.clock.now)

    assert due("first_contact_attempt") == "2026-11-30T09:00"
    h.clock.advance(days=1)  # Tuesday: on hold until Friday - Wednesday, Thursday, Friday are held
    h.act(rid, "put_on_hold", reason="person_unwell", review_date="2026-12-04")
    h.clock.advance(days=3)
    h.act(rid, "resume", note="Feeling better")
    assert due("first_contact_attempt") == "2026-12-03T09:00"  # three working days later
    assert due("first_meeting") == "2026-12-10T09:00"
    h.clock.now = datetime(2026, 11, 30, 9, 1, tzinfo=timezone.utc)  # the old deadline has passed
    assert breaches() == []
    assert h.client.get("/referrals?view=breaching", headers=h.adviser()).get_json()["items"] == []
    h.clock.now = datetime(2026, 12, 3, 9, 1, tzinfo=timezone.utc)
    assert breaches() == [(uuid.UUID(rid), "first_contact_attempt")]
    [breach] = outbox_payloads(h, "referrals.referral.sla_breached")
    assert breach["due_at"] == "2026-12-03T09:00:00Z"
    queue = h.client.get("/referrals?view=breaching", headers=h.adviser()).get_json()
    assert queue["items"][0]["breached_clocks"] == ["first_contact_attempt"]


def test_a_caseload_warning_names_the_adviser_when_someone_else_allocates(make_harness):
    h = make_harness(referral_settings=ReferralSettings(caseload_limit=1))
    h.add_service()
    team_lead = h.token("org_admin", ADVISERS, "lead-1")
    ids = [h.refer({"nhs_number": nhs_number(i, 40), "given_name": f"P{i}"}).get_json()["id"] for i in range(2)]
    h.signs_in("adviser-2")
    h.act(ids[0], "accept", headers=team_lead, adviser_id="adviser-2")
    warned = h.act(ids[1], "accept", headers=team_lead, adviser_id="adviser-2").get_json()["caseload_warning"]
    assert warned.startswith("adviser-2 now holds 2 active clients") and "You hold" not in warned
    assert h.act(ids[1], "assign", headers=team_lead, adviser_id="adviser-2").get_json()[
        "caseload_warning"].startswith("adviser-2 now holds 2")


def test_caseload_over_the_limit_warns_the_adviser(make_harness):
    h = make_harness(referral_settings=ReferralSettings(caseload_limit=2))
    h.add_service()
    ids = [h.refer({"nhs_number": nhs_number(i, 40), "given_name": f"P{i}"}).get_json()["id"] for i in range(3)]
    for rid in ids[:2]:
        assert "caseload_warning" not in h.act(rid, "accept", adviser_id="adviser-1").get_json()
    warned = h.act(ids[2], "accept", adviser_id="adviser-1").get_json()
    assert "more than the 2" in warned["caseload_warning"]
    assert warned["caseload_warning"].startswith("You hold 3 active clients")  # the adviser took it themselves
    queue = h.client.get("/referrals?view=mine", headers=h.adviser()).get_json()
    assert queue["caseload"]["active"] == 3 and "warning" in queue["caseload"]
    assert len(queue["items"]) == 3


def test_insights_are_for_the_alliance_and_suppress_small_counts(harness):
    h = harness
    for i in range(6):
        rid = h.refer({"nhs_number": nhs_number(i, 50), "given_name": f"Q{i}",
                       "postcode": "GL1 2AB" if i < 5 else "GL7 1AA"}).get_json()["id"]
        if i < 2:
            h.act(rid, "reject", reason="out_of_area")
    assert h.client.get("/insights", headers=h.adviser()).status_code == 403
    figures = h.client.get("/insights", headers=h.admin()).get_json()
    assert figures["by_source"] == {"gp": 6}
    assert figures["by_area"] == {"GL1": None, "GL7": None}  # 5 shown would give GL7's 1 away (6 - 5)
    assert figures["by_status"] == {"rejected": None, "submitted": None}
    assert figures["rejection_reasons"] == {"out_of_area": None}
    assert figures["overall"]["days_to_first_contact"]["median"] is None
    assert figures["equity"]["deprivation_decile"]["3"]["referrals"] == 6
    reads = audit_rows(h, resource_type="insights")  # who looked at the equity figures, naming no one
    assert [(r.action, r.actor_role, r.resource_id, r.person_id) for r in reads] == [
        ("read", "alliance_admin", "alliance", None)]
    assert "Lovelace" not in json.dumps(figures) and "9434765919" not in json.dumps(figures)


def test_the_referrer_cannot_cancel_once_work_has_started(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    refused = h.act(rid, "cancel", headers=h.gp(), reason="referrer_withdrew")
    assert refused.status_code == 409 and refused.get_json()["current_status"] == "in_progress"


def test_the_clock_job_flags_breaches_through_the_outbox(harness):
    from worklink_referrals import jobs

    h = harness
    h.refer()
    assert jobs.run_once(h.ctx.database, ReferralSettings(), h.clock.now) == 0
    h.clock.advance(days=3)
    assert jobs.run_once(h.ctx.database, ReferralSettings(), h.clock.now) == 1
    assert jobs.run_once(h.ctx.database, ReferralSettings(), h.clock.now) == 0
    assert outbox_types(h).count("referrals.referral.sla_breached") == 1


def test_the_job_publishes_each_services_capacity_when_it_changes(harness):
    from worklink_referrals import jobs

    h = harness
    settings = ReferralSettings()
    jobs.run_once(h.ctx.database, settings, h.clock.now)
    assert outbox_payloads(h, "referrals.capacity.changed")[-1]["open_referrals"] == 0
    ids = [h.refer({"nhs_number": nhs_number(i, 70), "given_name": f"C{i}"}).get_json()["id"] for i in range(2)]
    jobs.run_once(h.ctx.database, settings, h.clock.now)
    jobs.run_once(h.ctx.database, settings, h.clock.now)  # nothing changed: nothing published
    published = outbox_payloads(h, "referrals.capacity.changed")
    assert [p["open_referrals"] for p in published] == [0, 2]
    h.act(ids[0], "accept", adviser_id="adviser-1")
    h.clock.advance(days=2)
    h.act(ids[0], "make_first_contact")
    h.act(ids[1], "reject", reason="not_eligible")
    jobs.run_once(h.ctx.database, settings, h.clock.now)
    latest = outbox_payloads(h, "referrals.capacity.changed")[-1]
    assert latest == {**latest, "service_id": str(SERVICE), "organization_id": ADVISERS, "open_referrals": 1,
                      "typical_wait_days": None, "accepting_referrals": True}  # one wait: no typical wait


def test_a_services_typical_wait_is_published_only_from_five_first_contacts(harness):
    """The directory shows residents the typical wait; from one referral it was that person's own wait, sent
    minutes after their first contact. Fewer than 5 contacted in 90 days: none (as insights withhold medians)."""
    from worklink_referrals import jobs

    h, settings = harness, ReferralSettings()
    ids = [h.refer({"nhs_number": nhs_number(i, 71), "given_name": f"W{i}"}).get_json()["id"] for i in range(5)]
    for rid in ids:
        h.act(rid, "accept", adviser_id="adviser-1")
    for count, (advance, rid) in enumerate(zip((1, 1, 1, 1, 6), ids), start=1):  # contacted after 1, 2, 3, 4, 10 days
        h.clock.advance(days=advance)
        h.act(rid, "make_first_contact")
        jobs.run_once(h.ctx.database, settings, h.clock.now)
        typical = outbox_payloads(h, "referrals.capacity.changed")[-1]["typical_wait_days"]
        assert typical == (None if count < 5 else 3), (count, typical)


def test_demo_data_loads_once(tmp_path):
    from worklink.config import Settings
    from worklink_referrals import seed

    settings = Settings.from_env("referrals", {"WORKLINK_VAR": str(tmp_path)})
    assert "6 demo referrals" in seed.load_demo_data(settings)
    assert seed.load_demo_data(settings) == "demo referrals already loaded"
    from worklink.db import Database
    with Database(settings.database_url).transaction() as session:
        statuses = sorted(r.status for r in session.query(Referral))
    assert statuses == ["accepted", "completed", "in_progress", "rejected", "submitted", "triage"]


def test_simultaneous_referrals_of_one_person_are_never_doubled(both):
    """Eight intakes for the same person at once: one is created, the rest are refused as duplicates."""
    h = both
    results, start = [], threading.Barrier(8)

    def refer():
        client = h.app.test_client()
        start.wait()
        results.append(client.post("/referrals", json=referral_body(), headers=h.gp()).status_code)

    threads = [threading.Thread(target=refer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 7


def test_sustainment_checks_become_due_at_13_and_26_weeks(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
    assert h.client.get("/sustainment-checks", headers=h.adviser()).get_json() == []
    h.clock.advance(weeks=13)
    assert audit_rows(h, resource_id=rid, action="list") == []
    due = h.client.get("/sustainment-checks", headers=h.adviser()).get_json()
    assert due == [{"referral_id": rid, "weeks": 13, "due_on": "2027-02-22"}]
    assert [r.actor for r in audit_rows(h, resource_id=rid, action="list")] == ["adviser-1"]  # a read: audited
    # Advisers find them in their queue too (and on the queue page).
    assert [i["id"] for i in h.client.get("/referrals?view=checks_due", headers=h.adviser()).get_json()["items"]] \
        == [rid]
    queue_page = h.client.get("/queue?view=checks_due", headers={**h.adviser(), "Accept": "text/html"})
    assert "Sustainment checks due" in queue_page.get_data(as_text=True)
    assert f'href="/queue/{rid}"' in queue_page.get_data(as_text=True)
    assert h.client.get("/sustainment-checks", headers=h.adviser(org=OTHER_ADVISERS)).get_json() == []
    h.act(rid, "record_outcome", type="stayed_in_work", occurred_on="2027-02-22", sustainment_check_weeks=13)
    assert h.client.get("/sustainment-checks", headers=h.adviser()).get_json() == []
    assert h.client.get("/referrals?view=checks_due", headers=h.adviser()).get_json()["items"] == []
    h.clock.advance(weeks=13)
    assert [c["weeks"] for c in h.client.get("/sustainment-checks", headers=h.admin()).get_json()] == [26]


def test_an_outcome_is_a_sustainment_check_only_of_a_job_start_and_once_it_is_due(harness):
    """It marked a check done (and published it as one) whenever it named one: before the check was due, and with
    no job start at all, so the 13-week figure counted people no one had asked at 13 weeks."""
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    no_job = h.act(rid, "record_outcome", type="stayed_in_work", occurred_on="2026-11-23", sustainment_check_weeks=13)
    assert no_job.status_code == 422 and no_job.mimetype == "application/problem+json"
    [error] = no_job.get_json()["errors"]
    assert error["pointer"] == "/sustainment_check_weeks" and "no job start is recorded" in error["detail"]
    h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
    h.clock.advance(weeks=5)
    early = h.act(rid, "record_outcome", type="stayed_in_work", occurred_on=h.clock.now.date().isoformat(),
                  sustainment_check_weeks=13)
    assert early.status_code == 422
    assert [(e["pointer"], e["detail"]) for e in early.get_json()["errors"]] == [
        ("/sustainment_check_weeks", "the 13-week check is due on 2027-02-22: record it on or after that day")]
    assert [o["type"] for o in h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["outcomes"]] \
        == ["job_start"]  # neither refused outcome was kept


def test_holds_come_back_for_review_on_their_review_date(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "put_on_hold", reason="person_unwell", review_date="2026-11-30")
    assert h.client.get("/referrals?view=review_due", headers=h.adviser()).get_json()["items"] == []
    h.clock.advance(days=7)
    due = h.client.get("/referrals?view=review_due", headers=h.adviser()).get_json()["items"]
    assert [i["id"] for i in due] == [rid]
    resumed = h.act(rid, "resume", note="Feeling better, ready to start")
    assert resumed.get_json()["status"] == "accepted"
    # The explanations the hold and the resume asked for are kept (as the adviser side's case notes).
    h.act(rid, "put_on_hold", reason="other", text="Caring for a relative this month", review_date="2026-12-14")
    notes = [n["text"] for n in h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["notes"]]
    assert notes == ["Resumed: Feeling better, ready to start", "Put on hold: Caring for a relative this month"]


def test_a_referral_entered_in_error_leaves_every_count(harness):
    h = harness
    ids = [h.refer({"nhs_number": nhs_number(i, 80), "given_name": f"E{i}"}).get_json()["id"] for i in range(6)]
    assert h.client.get("/insights", headers=h.admin()).get_json()["by_source"] == {"gp": 6}
    assert h.act(ids[0], "enter_in_error", headers=h.adviser()).status_code == 403
    wrong = h.act(ids[0], "enter_in_error", headers=h.gp(), text="wrong patient")
    assert wrong.get_json()["status"] == "entered_in_error" and wrong.get_json()["fhir_status"] == "entered-in-error"
    assert h.client.get("/insights", headers=h.admin()).get_json()["by_source"] == {"gp": 5}
    assert h.act(ids[0], "cancel", headers=h.gp(), reason="referrer_withdrew").status_code == 409


def test_the_clock_job_runs_as_a_supervised_job_until_stopped(harness, monkeypatch):
    from worklink.service import get_service

    h = harness
    h.refer()
    job = get_service("referrals").jobs["clock"]
    monkeypatch.setenv("REFERRALS_ACKNOWLEDGE_DAYS", "0")  # every referral is already late
    stop = threading.Event()
    runner = threading.Thread(target=job, args=(h.settings, stop))
    runner.start()
    try:
        for _ in range(100):
            if "referrals.referral.sla_breached" in outbox_types(h):
                break
            stop.wait(0.1)
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()
    assert outbox_types(h).count("referrals.referral.sla_breached") == 1


def test_in_production_the_code_is_only_ever_sent_by_email(make_harness):
    h = make_harness(referral_settings=ReferralSettings(expose_codes=False))
    body = {"person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                       "postcode": "GL1 1AA", "phone": "07700 900000"},
            "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"}
    phone_only = h.client.post("/self-referrals", json=body)  # notifications cannot send texts yet
    assert phone_only.status_code == 422 and phone_only.mimetype == "application/problem+json"
    assert phone_only.get_json()["errors"][0]["pointer"] == "/person/email"
    assert outbox_payloads(h, "notifications.person_message.requested") == []
    body["person"]["email"] = "sam@example.org"
    pending = h.client.post("/self-referrals", json=body)
    assert pending.status_code == 202 and "code" not in pending.get_json()
    [sent] = outbox_payloads(h, "notifications.person_message.requested")
    assert sent["message_code"] == "self_referral_code" and re.fullmatch(r"[0-9]{6}", sent["verification_code"])


def self_referral(email: str, **person) -> dict:
    return {"person": {"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA",
                       "email": email, **person}, "consent": {"explicit": True, "updates_by_email": True},
            "employment_situation": "unemployed"}


def test_self_referral_is_rate_limited_per_contact_address_and_per_client_ip(make_harness):
    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, self_referral_limit_contact=3,
                                                        self_referral_limit_ip=5, self_referral_window_seconds=3600))
    for _ in range(3):
        assert h.client.post("/self-referrals", json=self_referral("sam@example.org")).status_code == 202
        h.clock.advance(minutes=10)
    refused = h.client.post("/self-referrals", json=self_referral("SAM@example.org"))  # the same address, any case
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    # The first of the three leaves the window 60 minutes after it was counted: 30 minutes from now.
    assert refused.headers["Retry-After"] == "1800" and refused.get_json()["retry_after"] == 1800
    assert "code" not in refused.get_json()
    # Another address from the same client still gets through, up to the per-IP limit (5).
    assert h.client.post("/self-referrals", json=self_referral("kim@example.org")).status_code == 202
    assert h.client.post("/self-referrals", json=self_referral("lee@example.org")).status_code == 202
    by_ip = h.client.post("/self-referrals", json=self_referral("max@example.org"))
    assert by_ip.status_code == 429
    other_client = h.client.post("/self-referrals", json=self_referral("max@example.org"),
                                 environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other_client.status_code == 202
    # Refused attempts were not counted: once the first hit leaves the window, one more is allowed.
    h.clock.advance(minutes=31)
    assert h.client.post("/self-referrals", json=self_referral("sam@example.org")).status_code == 202
    assert h.client.post("/self-referrals", json=self_referral("sam@example.org")).status_code == 429


def test_the_self_referral_limit_counts_one_mailbox_however_its_address_is_written(make_harness):
    from worklink_referrals.services import mailbox

    assert {mailbox(a) for a in ("kim@example.org", "KIM+1@example.org", " kim+jobs@Example.org ")} == {
        "kim@example.org"}
    assert {mailbox(a) for a in ("k.i.m@gmail.com", "kim+x@googlemail.com")} == {"kim@gmail.com"}
    assert mailbox("k.i.m@example.org") == "k.i.m@example.org"  # dots matter outside Gmail
    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, self_referral_limit_contact=2,
                                                        self_referral_limit_ip=50, self_referral_window_seconds=3600))
    for address in ("kim+0@gmail.com", "k.i.m@gmail.com"):
        assert h.client.post("/self-referrals", json=self_referral(address)).status_code == 202
    assert h.client.post("/self-referrals", json=self_referral("KIM+2@googlemail.com")).status_code == 429


def test_the_self_referral_limit_holds_across_web_workers(make_harness, database_url):
    """Two app instances (two gunicorn workers) on one database, eight starts at once: exactly the limit pass."""
    limits = ReferralSettings(expose_codes=True, self_referral_limit_contact=3, self_referral_limit_ip=100)
    first = make_harness(database_url, referral_settings=limits)
    second = make_harness(database_url, referral_settings=limits)
    results, start = [], threading.Barrier(8)

    def post(harness):
        client = harness.app.test_client()
        start.wait()
        results.append(client.post("/self-referrals", json=self_referral("sam@example.org")).status_code)

    threads = [threading.Thread(target=post, args=(h,)) for h in [first, second] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [202] * 3 + [429] * 5


def _verify_at_once(h, pid: str, code: str, send) -> list:
    """Two people submit the same code at once: both requests wait on the pending row, which this test
    holds locked, then race (PostgreSQL)."""
    from worklink_referrals.models import PendingSelfReferral

    answers, both_waiting = [], threading.Barrier(3)

    def submit():
        both_waiting.wait()
        answers.append(send(h.app.test_client()))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    with h.ctx.database.transaction() as session:
        session.get(PendingSelfReferral, uuid.UUID(pid), with_for_update=True)
        for t in threads:
            t.start()
        both_waiting.wait()
        with h.ctx.database.engine.connect() as watcher:  # until both requests wait on the lock
            waiting = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            for _ in range(500):
                if watcher.execute(waiting).scalar() >= 2:
                    break
                time.sleep(0.01)
    for t in threads:
        t.join()
    return answers


def test_one_code_submitted_twice_at_once_gives_one_referral_and_a_problem(make_harness, postgres_url):
    h = make_harness(postgres_url)
    h.add_service()
    pending = h.client.post("/self-referrals", json=self_referral("sam@example.org")).get_json()
    answers = _verify_at_once(h, pending["id"], pending["code"], lambda client: client.post(
        f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]}))
    assert sorted(a.status_code for a in answers) == [201, 404]
    [refused] = [a for a in answers if a.status_code == 404]
    assert refused.mimetype == "application/problem+json" and "already" in refused.get_json()["detail"]
    assert h.client.get("/referrals", headers=h.adviser()).get_json()["total"] == 1


def test_the_code_page_answers_the_second_of_two_people_entering_one_code(make_harness, postgres_url):
    h = make_harness(postgres_url)
    h.add_service()
    pending = h.client.post("/self-referrals", json=self_referral("sam@example.org")).get_json()

    def send(client):
        client.set_cookie("worklink_csrf", "t0ken")
        return client.post(f"/refer-yourself/{pending['id']}/code", headers={"Accept": "text/html"},
                           data={"csrf_token": "t0ken", "code": pending["code"], "route": "email"})

    answers = _verify_at_once(h, pending["id"], pending["code"], send)
    # the second is told it was sent already (ecd4557: not a 404 inviting them to start again)
    assert sorted(a.status_code for a in answers) == [200, 303]
    [told] = [a for a in answers if a.status_code == 200]
    assert told.mimetype == "text/html" and "Your referral has already been sent" in told.get_data(as_text=True)
    assert h.client.get("/referrals", headers=h.adviser()).get_json()["total"] == 1


def test_the_self_referral_page_says_when_to_try_again(make_harness):
    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, self_referral_limit_contact=1))
    h.client.set_cookie("worklink_csrf", "t0ken")
    form = {"csrf_token": "t0ken", "given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
            "postcode": "GL1 1AA", "email": "sam@example.org", "consent": "yes",
            "updates_by_email": "yes", "employment_situation": "unemployed"}
    first = h.client.post("/refer-yourself", data=form, headers={"Accept": "text/html"})
    assert first.status_code == 303 and first.headers["Location"].endswith("/code")
    again = h.client.post("/refer-yourself", data=form, headers={"Accept": "text/html"})
    assert again.status_code == 429 and again.mimetype == "text/html"
    assert again.headers["Retry-After"] == "3600" and "Try again in 60 minutes" in again.get_data(as_text=True)


def test_sent_person_messages_leave_the_outbox_a_day_after_kafka_has_them(harness):
    """Their rows hold an email address and perhaps a one-time code: not kept once delivered
    (the service's own relay prunes them; see worklink.messaging.outbox)."""
    from worklink.messaging.outbox import OutboxRelay
    from worklink_referrals.models import PLATFORM

    h = harness
    h.client.post("/self-referrals", json=self_referral("sam@example.org"))
    h.refer()  # its lifecycle event stays: only person messages are dropped
    outbox = PLATFORM.outbox
    with h.ctx.database.transaction() as session:
        session.execute(outbox.update().values(sent_at=h.clock.now))  # as the relay marks them
    relay = OutboxRelay("referrals", h.ctx.database, PLATFORM, lambda: None)
    relay.prune(h.clock.now + timedelta(hours=23))
    assert len(outbox_payloads(h, "notifications.person_message.requested")) == 1
    relay.prune(h.clock.now + timedelta(hours=25))
    assert outbox_payloads(h, "notifications.person_message.requested") == []
    assert len(outbox_payloads(h, "referrals.referral.submitted")) == 1


def test_outcomes_reach_the_referrer_only_if_the_person_agreed_and_never_after_withdrawal(harness):
    """outcome_recorded goes to the referring organisation (notifications' referrer_org audience): it is
    an outcome about the person, so it follows the consent's outcomes_to_referrer and stops on withdrawal."""
    h = harness

    def working(person, outcomes_to_referrer):
        body = referral_body(person)
        body["consent"]["outcomes_to_referrer"] = outcomes_to_referrer
        rid = h.client.post("/referrals", json=body, headers=h.gp()).get_json()["id"]
        h.act(rid, "accept", adviser_id="adviser-1")
        h.act(rid, "make_first_contact")
        return rid

    private = working({"nhs_number": "9100000019", "given_name": "Pri"}, False)
    shared = working({"nhs_number": "9100000027", "given_name": "Sha"}, True)
    for rid in (private, shared):
        recorded = h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
        assert recorded.status_code == 200 and len(recorded.get_json()["outcomes"]) == 1  # kept either way
    assert [e["referral_id"] for e in outbox_payloads(h, "referrals.referral.outcome_recorded")] == [shared]

    h.act(shared, "complete", end_reason="goals_met")
    assert h.client.post(f"/referrals/{shared}/consent-withdrawal", headers=h.gp()).status_code == 200
    later = h.act(shared, "record_outcome", type="stayed_in_work", occurred_on="2026-11-23")
    assert later.status_code == 200
    assert [e["outcome_type"] for e in outbox_payloads(h, "referrals.referral.outcome_recorded")] == ["job_start"]
    assert "outcomes" not in h.client.get(f"/referrals/{private}", headers=h.gp()).get_json()


def test_a_hold_carries_its_reason_code_in_the_event_and_the_history(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    held = h.act(rid, "put_on_hold", reason="awaiting_information", review_date="2026-11-30").get_json()
    assert held["hold"]["reason"] == "awaiting_information"
    assert held["history"][-1]["action"] == "put_on_hold" and held["history"][-1]["reason"] == "awaiting_information"
    [event] = outbox_payloads(h, "referrals.referral.put_on_hold")
    assert event["reason"] == "awaiting_information"
    resumed = h.act(rid, "resume", note="Information arrived").get_json()
    assert resumed["history"][-1]["reason"] is None
    assert outbox_payloads(h, "referrals.referral.resumed")[0]["reason"] is None


def test_a_second_referral_routed_by_area_is_a_duplicate_even_where_another_service_would_take_it(
        make_harness, database_url):
    """Two services serve the area: the first referral's caseload would route a second one to the other
    service, and the person would silently hold two open referrals. An intake that names no service
    asks for any adviser service, so any open referral of the person is its duplicate."""
    h = make_harness(database_url)
    h.add_service(SERVICE, ADVISERS)
    h.add_service(OTHER_SERVICE, OTHER_ADVISERS)
    first = h.refer().get_json()
    again = h.refer()
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == first["id"]
    linked = h.refer(duplicate={"reason": "a second condition"})
    assert linked.status_code == 201 and linked.get_json()["duplicate_of_id"] == first["id"]
    assert {first["service_id"], linked.get_json()["service_id"]} == {str(SERVICE), str(OTHER_SERVICE)}
    # Naming a service is a deliberate choice: only an open referral to that service is its duplicate.
    bo = {"nhs_number": "9200000010", "given_name": "Bo"}
    assert h.refer(bo, service_id=str(SERVICE)).status_code == 201
    assert h.refer(bo, service_id=str(OTHER_SERVICE)).status_code == 201
    # A service not (yet) in the read model: both intakes are held, and the second is still its duplicate.
    unknown = str(uuid.uuid4())
    cy = {"nhs_number": "9200000002", "given_name": "Cy"}
    held = h.refer(cy, service_id=unknown).get_json()
    assert held["routing"] == "held"
    assert h.refer(cy, service_id=unknown).get_json()["duplicate_of"] == held["id"]


def test_a_self_referral_is_linked_to_an_open_referral_never_refused(harness):
    """The resident cannot link it with a reason, and a refusal would tell whoever typed the details that
    this person has an open referral: it is submitted and linked, and the adviser sees the link."""
    h = harness
    by_gp = h.refer({"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
                     "postcode": "GL1 1AA", "nhs_number": "9300000004"}).get_json()
    pending = h.client.post("/self-referrals", json=self_referral("sam@example.org")).get_json()
    verified = h.client.post(f"/self-referrals/{pending['id']}/verification", json={"code": pending["code"]})
    assert verified.status_code == 201, verified.get_json()
    assert by_gp["id"] not in json.dumps(verified.get_json()) and by_gp["reference"] not in json.dumps(
        verified.get_json())
    mine = [i for i in h.client.get("/referrals", headers=h.adviser()).get_json()["items"] if i["source"] == "self"]
    detail = h.client.get(f"/referrals/{mine[0]['id']}", headers=h.adviser()).get_json()
    assert detail["duplicate_of_id"] == by_gp["id"] and "already has an open referral" in detail["duplicate_reason"]


def test_the_self_referral_page_links_a_duplicate_too(harness):
    h = harness
    h.refer({"given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02", "postcode": "GL1 1AA"})
    h.client.set_cookie("worklink_csrf", "t0ken")
    form = {"csrf_token": "t0ken", "given_name": "Sam", "family_name": "Jones", "birth_date": "1990-01-02",
            "postcode": "GL1 1AA", "email": "sam@example.org", "consent": "yes",
            "updates_by_email": "yes", "employment_situation": "unemployed"}
    code_page = h.client.post("/refer-yourself", data=form, headers={"Accept": "text/html"}).headers["Location"]
    asked = h.client.get(code_page, headers={"Accept": "text/html"}).get_data(as_text=True)
    pending_id = re.search(r"/refer-yourself/([0-9a-f-]{36})/code", asked).group(1)
    code = re.search(r'id="dev-code"[^>]*>\s*([0-9]{6})', asked).group(1)
    sent = h.client.post(f"/refer-yourself/{pending_id}/code", data={"csrf_token": "t0ken", "code": code},
                         headers={"Accept": "text/html"})
    assert sent.status_code == 303 and "/my-referral/" in sent.headers["Location"]


def test_insights_hide_a_small_count_that_the_total_would_give_away(harness):
    """Six referrals, five from GL1 and one from GL7: the total is published, so hiding GL7 alone would
    leave it at 6 - 5 = 1. Enough other cells are hidden too that no small count can be worked out."""
    h = harness
    for i in range(6):
        h.refer({"nhs_number": nhs_number(i, 51), "given_name": f"D{i}", "postcode": "GL1 2AB" if i < 5 else "GL7 1AA",
                 "deprivation_decile": 3 if i < 5 else 9})
    figures = h.client.get("/insights", headers=h.admin()).get_json()
    assert figures["overall"]["referrals"] == 6
    assert figures["by_area"] == {"GL1": None, "GL7": None}
    deciles = figures["equity"]["deprivation_decile"]
    assert deciles["3"]["referrals"] is None and deciles["9"]["referrals"] is None
    assert deciles["3"]["outcome_rates"] == {kind: None for kind in deciles["3"]["outcome_rates"]}
    for i in range(6, 12):  # six more from GL7: nothing small left to protect
        h.refer({"nhs_number": nhs_number(i, 51), "given_name": f"D{i}",
                 "postcode": "GL7 1AA"})
    assert h.client.get("/insights", headers=h.admin()).get_json()["by_area"] == {"GL1": 5, "GL7": 7}


def test_complementary_suppression_rules():
    from worklink_referrals.insights import hidden_cells

    assert hidden_cells({"a": 20, "b": 9, "c": 6}) == set()
    assert hidden_cells({"a": 20, "b": 9, "c": 2}) == {"b", "c"}  # the smallest other joins the one small count
    assert hidden_cells({"a": 20, "b": 1, "c": 1, "d": 6}) == {"b", "c", "d"}  # 1 + 1 < 5 would pin both
    ones = {f"x{i}": 1 for i in range(5)}
    assert hidden_cells({**ones, "big": 30}) == {*ones, "big"}  # five hidden ones summing to 5: all ones
    assert hidden_cells({"a": 3, "b": 4}) == {"a", "b"}
    assert hidden_cells({"a": 12, "b": 7}, already={"b"}) == {"a", "b"}


def test_the_queue_filters_and_claiming(harness):
    h = harness
    ids = [h.refer({"nhs_number": nhs_number(i, 94), "given_name": f"F{i}"}).get_json()["id"] for i in range(3)]

    def view(name, headers=None):
        return [i["id"] for i in h.client.get(f"/referrals?view={name}", headers=headers or h.adviser()
                                              ).get_json()["items"]]

    assert view("new") == ids and view("waitlist") == [] and view("mine") == []
    h.act(ids[0], "accept")  # no adviser named: the waitlist
    assert view("waitlist") == [ids[0]] and view("new") == ids[1:]
    claimed = h.act(ids[0], "assign", claim=True).get_json()
    assert (claimed["business_status"], claimed["assigned_adviser"]) == ("allocated", "adviser-1")
    assert view("waitlist") == [] and view("mine") == [ids[0]]
    assert view("mine", h.adviser("adviser-2")) == []
    given = h.act(ids[1], "assign", adviser_id="adviser-2").get_json()
    assert given["assigned_adviser"] == "adviser-2" and given["status"] == "submitted"
    assert view("mine", h.adviser("adviser-2")) == [ids[1]]
    assert view("all", h.adviser(org=OTHER_ADVISERS)) == []
    assert h.client.get("/referrals?view=nonsense", headers=h.adviser()).status_code == 422


def test_a_referrer_the_person_did_not_share_outcomes_with_sees_no_trace_of_them(harness):
    h = harness
    body = referral_body()
    body["consent"]["outcomes_to_referrer"] = False
    rid = h.client.post("/referrals", json=body, headers=h.gp()).get_json()["id"]
    h.act(rid, "accept", adviser_id="adviser-1")
    h.act(rid, "make_first_contact")
    h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="30_plus")
    referrer = h.client.get(f"/referrals/{rid}", headers=h.gp()).get_json()
    assert "outcomes" not in referrer
    assert [step["action"] for step in referrer["history"]] == ["submit", "accept", "make_first_contact"]
    adviser = h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()
    assert [step["action"] for step in adviser["history"]][-1] == "record_outcome"


def test_a_partner_organisation_refers_and_follows_its_referral(harness):
    h = harness
    partner = h.adviser("partner-7", org=OTHER_ADVISERS)
    sent = h.refer(headers=partner)
    assert sent.status_code == 201, sent.get_json()
    body = sent.get_json()
    assert (body["source"], body["referrer_org_id"], body["assigned_org_id"]) == ("partner", OTHER_ADVISERS, ADVISERS)
    assert [i["id"] for i in h.client.get("/referrals?view=sent", headers=partner).get_json()["items"]] == [body["id"]]
    assert h.client.get("/referrals", headers=partner).get_json()["items"] == []  # not in their own queue
    assert h.act(body["id"], "accept", headers=partner, adviser_id="partner-7").status_code == 403
    lead = h.token("org_admin", ADVISERS, "lead-1")
    h.signs_in("adviser-1")
    assert h.act(body["id"], "accept", headers=lead, adviser_id="adviser-1").get_json()["status"] == "accepted"
    assert h.client.get(f"/referrals/{body['id']}", headers=partner).get_json()["status"] == "accepted"
    assert h.refer(headers=h.token("resident", None, "r-1")).status_code == 403
    no_org = h.refer({"nhs_number": "9500000008"}, headers=h.token("gp", None, "gp-x"))  # refused at verification
    assert no_org.status_code == 401 and no_org.mimetype == "application/problem+json"


def test_the_referral_page_offers_the_note_form_only_to_those_who_may_keep_notes(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.client.post(f"/referrals/{rid}/notes", json={"text": "Prefers mornings"}, headers=h.adviser())

    def page(headers):
        response = h.client.get(f"/queue/{rid}", headers={**headers, "Accept": "text/html"})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert "Save note" in page(h.adviser()) and "Prefers mornings" in page(h.adviser())
    admin = page(h.admin())
    assert "Prefers mornings" in admin and "Save note" not in admin  # the admin reads them, cannot add
    assert "Prefers mornings" not in page(h.gp())
    outsider = h.client.get(f"/queue/{rid}", headers={**h.adviser(org=OTHER_ADVISERS), "Accept": "text/html"})
    assert outsider.status_code == 404 and "Prefers mornings" not in outsider.get_data(as_text=True)
    assert [(r.actor_org, r.purpose) for r in audit_rows(h, resource_id=rid, action="denied")] == [
        (OTHER_ADVISERS, "GET /queue/<uuid:referral_id> -> 404")]


def test_the_referrer_reads_on_the_referral_page_why_it_was_rejected_and_where_to_go_instead(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    instead = uuid.uuid4()
    h.act(rid, "reject", reason="other", text="We only support people in work", redirect_service_id=str(instead))
    page = h.client.get(f"/queue/{rid}", headers={**h.gp(), "Accept": "text/html"}).get_data(as_text=True)
    assert 'id="status-reason">Other: We only support people in work' in page
    assert f'id="redirect">Directory service {instead}' in page


def test_the_failed_contact_threshold_comes_from_the_settings(make_harness):
    assert ReferralSettings.from_env({}).failed_contact_attempts == 3
    assert ReferralSettings.from_env({"REFERRALS_FAILED_CONTACT_ATTEMPTS": "5"}).failed_contact_attempts == 5
    for attempts, expected in ((3, 422), (2, 200)):
        h = make_harness(referral_settings=ReferralSettings(failed_contact_attempts=attempts))
        h.add_service()
        rid = h.refer({"nhs_number": nhs_number(attempts, 96), "given_name": f"N{attempts}"}).get_json()["id"]
        h.act(rid, "accept", adviser_id="adviser-1")
        h.act(rid, "record_contact_attempt", channel="phone", result="no_answer")
        h.act(rid, "record_contact_attempt", channel="text", result="no_answer")
        assert h.act(rid, "fail", reason="failed_contact").status_code == expected
