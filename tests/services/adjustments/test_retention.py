"""Records retention: ADJUSTMENTS_RETENTION_YEARS after a suggestion's last activity, the sweep erases the
patient's details and free text from an ended suggestion and everything hanging off it, keeps ids, codes,
dates and the audit trail, and never touches advice still in use (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.services.adjustments.conftest import (OTHER_PRACTICE, VALID_NHS, Tokens, build_app, make_settings,
                                                 suggestion_body)
from tests.services.adjustments.test_employer_api_and_rounds import ANSWER, letter_token
from tests.services.adjustments.test_referral_consent_withdrawal import lifecycle_event
from worklink.config import ConfigError
from worklink.db import utcnow
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink_adjustments import rights, sweep
from worklink_adjustments.events import on_referral_lifecycle
from worklink_adjustments.models import PLATFORM, Base, EmployerLink, Suggestion
from worklink_adjustments.services import Recorder

# A day past six calendar years from late 2026 (2028 and 2032 are leap years).
SIX_YEARS = timedelta(days=6 * 365 + 2 + 1)
OPEN_ENDED = {"period.end": ..., "assessment.condition_started_on": "2025-01-02"}  # current until ended
LINK_TTL = timedelta(days=60)  # the default employer link lifetime: its expiry counts as activity
OTHER_NHS = "4010232137"
PERSONAL = ("Sam", "Patel", VALID_NHS, "1985-04-12", "sam@example.org", "07700900123", "GL1 2AB", "Dr Ada Lovelace",
            "Tires quickly", "Tiredness by mid-afternoon", "Start at 10am", "4 hours a day", "Warehouse supervisor",
            "Severn Logistics", "Depression", "Open-plan floor only", "10am on Mondays only", "Jo Manager",
            "Shift manager", "Private note about the employer")


def create(client, tokens, headers=None, **overrides) -> dict:
    made = client.post("/suggestions", json=suggestion_body(**overrides), headers=headers or tokens.header())
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def issue(client, tokens, headers=None, **overrides) -> dict:
    draft = create(client, tokens, headers, **overrides)
    issued = client.post(f"/suggestions/{draft['id']}/issue", json={"version": 1}, headers=headers or tokens.header())
    assert issued.status_code == 200, issued.get_json()
    return issued.get_json()


def worked_and_withdrawn(app, client, tokens) -> str:
    """Issued with both consents; the employer answered in their own words; the referral was completed;
    then the clinician withdrew the advice."""
    s = issue(client, tokens, **{"consent.refer_to_employment_adviser": True,
                                 "job.notes": "Private note about the employer"})
    answered = client.post(f"/employer-links/{letter_token(client, tokens, s['id'])}/response",
                           json={**ANSWER, "comments": "Jo Manager will meet Sam weekly"})
    assert answered.status_code == 201, answered.get_json()
    request_id = client.get(f"/suggestions/{s['id']}", headers=tokens.header()).get_json()["referrals"][0]["request_id"]
    with app.extensions["worklink"].database.transaction() as session:
        on_referral_lifecycle(session, lifecycle_event("completed", request_id, 5))
    done = client.post(f"/suggestions/{s['id']}/withdraw", json={"version": s["version"], "reason": "other"},
                       headers=tokens.header())
    assert done.status_code == 200, done.get_json()
    return s["id"]


def withdrawn(client, tokens, headers=None, **overrides) -> str:
    s = issue(client, tokens, headers, **overrides)
    done = client.post(f"/suggestions/{s['id']}/withdraw", json={"version": s["version"], "reason": "other"},
                       headers=headers or tokens.header())
    assert done.status_code == 200, done.get_json()
    return s["id"]


def outbox(app) -> Outbox:
    return Outbox("adjustments", PLATFORM, CATALOGUE)


def recorder(app) -> Recorder:
    """What the sweep writes with: the outbox and the audit trail, under the app's person key."""
    return Recorder(outbox(app), rights.AUDIT, app.config["PERSON_KEY"])


def retain(app, at: datetime, years: int = 6, limit: int = 200) -> int:
    return rights.apply_retention(app.extensions["worklink"].database, recorder(app), years, at, limit)


def row(app, sid: str) -> dict:
    with app.extensions["worklink"].database.engine.connect() as conn:
        query = sa.select(Suggestion.__table__).where(Suggestion.id == uuid.UUID(sid))
        return dict(conn.execute(query).mappings().one())


def erase_audits(app) -> list[tuple]:
    audit = PLATFORM.audit_log.c
    with app.extensions["worklink"].database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(audit.resource_id, audit.actor, audit.purpose)
                                               .where(audit.action == "erase").order_by(audit.id))]


def text_held(app, about: set[str] | None = None) -> str:
    """Every value in the service's tables - its own, the outbox and the audit trail - (only of the rows
    about these suggestions, when given)."""
    found = []
    with app.extensions["worklink"].database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name.startswith(("guidance", "functional", "work_functions", "conditions", "adjustments",
                                      "phrase", "processed")):
                continue  # the library, not about anyone
            for r in conn.execute(sa.select(table)).mappings():
                text = " ".join(str(v) for v in r.values())
                if about is None or any(sid in text for sid in about):
                    found.append(text)
    return "\n".join(found)


def test_retention_erases_ended_suggestions_after_the_period_and_never_advice_in_use(svc):
    app, client, tokens = svc
    gone = worked_and_withdrawn(app, client, tokens)
    draft = create(client, tokens)["id"]  # never issued, never touched again: abandoned
    current = issue(client, tokens, **{"patient.nhs_number": OTHER_NHS}, **OPEN_ENDED)["id"]
    other = issue(client, tokens, headers=tokens.header(org=OTHER_PRACTICE))["id"]
    before = row(app, current)
    gone_before = row(app, gone)
    start = utcnow()

    assert retain(app, start + SIX_YEARS - timedelta(days=3)) == 0  # not yet six years since anything
    assert row(app, draft)["erased_at"] is None and erase_audits(app) == []

    # Six years on, the draft has had no activity; the withdrawn advice's employer link expired 60 days
    # after it was issued, so it waits that long more.
    assert retain(app, start + SIX_YEARS) == 1
    assert row(app, draft)["erased_at"] is not None and row(app, gone)["erased_at"] is None

    later = start + SIX_YEARS + LINK_TTL + timedelta(days=1)
    assert retain(app, later) == 1  # the withdrawn advice
    erased = row(app, gone)
    assert erased["erased_at"] is not None
    for name in ("nhs_number", "given_name", "family_name", "birth_date", "email", "phone", "postcode", "issuer_name"):
        assert erased[name] is None, name
    # Ids, codes, dates, the guidance version and the consent flags stay.
    kept = ("id", "practice_id", "clinician_id", "status", "version", "guidance_version", "decision", "categories",
            "issuer_profession", "assessment_date", "assessment_method", "condition_started_on", "period_start",
            "period_end", "review_date", "reassessment_needed", "share_with_employer", "refer_to_employment_adviser",
            "withdrawn_reason", "created_at", "issued_at", "ended_at")
    assert {k: erased[k] for k in kept} == {k: gone_before[k] for k in kept}
    assert (erased["status"], erased["withdrawn_reason"], erased["decision"]) == ("withdrawn", "other", "may_be_fit")
    assert erased["conditions"] == [{"condition_id": "depression", "disclose": False}]
    assert [r.get("adjustment_id") for r in erased["recommendations"]] == ["phased_return_4wk", "quiet_workspace", None]
    assert erased["job"] == {"tasks": ["planning_work"]} and erased["functional_effects"] == ""

    # Advice still in use is untouched (an unanswered referral request: test_stale_referral_requests.py).
    assert row(app, current) == before
    assert row(app, other)["erased_at"] is None  # issued (current) advice of another practice

    # Nothing about the erased suggestion says who the patient was, in any table - the audit trail and
    # the outbox included (the restricted referral request with the person's details is gone).
    held = text_held(app, {gone})
    for secret in PERSONAL:
        assert secret not in held, secret
    assert gone in held  # its rows are still there
    assert erase_audits(app) == [(draft, "system", "retention"), (gone, "system", "retention")]
    audit = PLATFORM.audit_log.c
    with app.extensions["worklink"].database.engine.connect() as conn:
        people = set(conn.execute(sa.select(audit.person_id).where(audit.resource_id == gone)).scalars())
        accesses = conn.execute(sa.select(sa.func.count()).where(audit.resource_id == gone)).scalar()
    assert people == {gone} and accesses > 5  # every access kept, naming the suggestion

    assert retain(app, later + timedelta(days=30)) == 0  # idempotent: nothing erased twice
    assert len(erase_audits(app)) == 2


def test_superseded_and_expired_advice_ends_and_the_advice_replacing_it_stays(svc):
    app, client, tokens = svc
    old = issue(client, tokens)["id"]
    newer = issue(client, tokens, supersedes_id=old, **OPEN_ENDED)["id"]  # current advice, replacing the old
    lapsed = issue(client, tokens, **{"patient.nhs_number": OTHER_NHS})
    database = app.extensions["worklink"].database
    period_end = datetime.fromisoformat(row(app, lapsed["id"])["period_end"].isoformat())
    assert sweep.run_once(database, outbox(app), now=datetime.combine(
        period_end + timedelta(days=2), datetime.min.time(), timezone.utc))["expired"] == 1
    assert [row(app, sid)["status"] for sid in (old, newer, lapsed["id"])] == ["superseded", "issued", "expired"]

    assert retain(app, utcnow() + SIX_YEARS + LINK_TTL + timedelta(days=1)) == 2
    assert row(app, old)["erased_at"] and row(app, lapsed["id"])["erased_at"]
    current = row(app, newer)
    assert current["erased_at"] is None and current["given_name"] == "Sam"
    assert current["supersedes_id"] == uuid.UUID(old)  # still names what it replaced


def test_an_employer_answer_keeps_its_outcomes_and_loses_its_words(svc):
    app, client, tokens = svc
    gone = worked_and_withdrawn(app, client, tokens)
    retain(app, utcnow() + SIX_YEARS + LINK_TTL + timedelta(days=1))
    shown = client.get(f"/suggestions/{gone}", headers=tokens.header())
    assert shown.status_code == 200, shown.get_json()
    body = shown.get_json()
    assert body["erased_at"] and body["patient"]["nhs_number"] is None and body["patient"]["given_name"] is None
    [answer] = body["employer_responses"]
    assert [(i["index"], i["outcome"]) for i in answer["items"]] == [
        (0, "agreed"), (1, "not_possible"), (2, "partially_agreed")]
    assert (answer["comments"], answer["responder_name"], answer["responder_role"]) == ("", "", "")
    assert all(not i.get("reason") for i in answer["items"])
    assert body["referrals"][0]["status"] == "completed"  # the request's codes and dates stay


def test_an_erased_suggestion_cannot_be_changed_or_issued(svc):
    app, client, tokens = svc
    gone = withdrawn(client, tokens, **{"consent.refer_to_employment_adviser": True})
    draft = create(client, tokens)["id"]
    database = app.extensions["worklink"].database
    request_id = client.get(f"/suggestions/{gone}", headers=tokens.header()).get_json()["referrals"][0]["request_id"]
    with database.transaction() as session:  # the request answered, so the advice has ended
        on_referral_lifecycle(session, lifecycle_event("rejected", request_id, 2))
    assert retain(app, utcnow() + SIX_YEARS + LINK_TTL + timedelta(days=1)) == 2
    version = row(app, gone)["version"]
    refused = client.post(f"/suggestions/{gone}/referral-consent-withdrawal", json={"version": version},
                          headers=tokens.header())
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert "erased" in refused.get_json()["detail"]
    for attempt in (client.post(f"/suggestions/{draft}/issue", json={"version": 1}, headers=tokens.header()),
                    client.put(f"/suggestions/{draft}", json={**suggestion_body(), "version": 1},
                               headers=tokens.header())):
        assert attempt.status_code == 409, attempt.get_json()
        assert attempt.get_json()["erased"] is True
    assert row(app, draft)["status"] == "draft" and row(app, draft)["given_name"] is None


def test_an_open_employer_link_is_never_erased_before_it_expires_and_a_usable_one_is_revoked(svc):
    app, client, tokens = svc
    gone = withdrawn(client, tokens)
    database = app.extensions["worklink"].database
    start = utcnow()
    far = start + SIX_YEARS + timedelta(days=1)
    with database.transaction() as session:  # a link issued with a longer lifetime (ADJUSTMENTS_LINK_TTL_DAYS)
        session.execute(sa.update(EmployerLink).values(expires_at=far + timedelta(days=10)))
    assert retain(app, far) == 0  # still open: not ended
    # Erased directly (as a request does), the still-usable link is revoked.
    with database.transaction() as session:
        suggestion = session.get(Suggestion, uuid.UUID(gone))
        assert rights.erase(session, recorder(app), suggestion, start, purpose="test",
                            principal=rights.retention.SYSTEM)
        assert session.scalar(sa.select(EmployerLink.revoked_at)) is not None


def test_batches_erase_everything_due_in_several_transactions(svc):
    app, client, tokens = svc
    drafts = [create(client, tokens)["id"] for _ in range(5)]
    at = utcnow() + SIX_YEARS
    assert retain(app, at, limit=2) == 5
    assert all(row(app, sid)["erased_at"] is not None for sid in drafts)
    assert retain(app, at, limit=2) == 0


def test_the_sweep_runs_retention_with_the_configured_period(svc, monkeypatch):
    app, client, tokens = svc
    draft = create(client, tokens)["id"]
    database = app.extensions["worklink"].database
    in_two_years = utcnow() + timedelta(days=2 * 366)
    monkeypatch.setenv("ADJUSTMENTS_RETENTION_YEARS", "6")
    assert sweep.run_once(database, outbox(app), now=in_two_years)["erased_past_retention"] == 0
    monkeypatch.setenv("ADJUSTMENTS_RETENTION_YEARS", "1")
    assert sweep.run_once(database, outbox(app), now=in_two_years)["erased_past_retention"] == 1
    assert row(app, draft)["erased_at"] is not None


@pytest.mark.parametrize("value", ["0", "-1", "six", "1.5"])
def test_a_retention_period_that_is_not_a_whole_number_of_years_is_refused(value):
    with pytest.raises(ConfigError):
        rights.retention_years({"ADJUSTMENTS_RETENTION_YEARS": value})


def test_six_years_is_the_default():
    assert rights.retention_years({}) == 6
    assert rights.retention.years_before(datetime(2032, 2, 29, tzinfo=timezone.utc), 6) == datetime(
        2026, 2, 28, tzinfo=timezone.utc)


def test_a_suggestion_someone_holds_is_skipped_and_erased_by_a_later_run(tmp_path, postgres_url):
    """PostgreSQL: the pass never waits behind a clinician's transaction on a suggestion (SKIP LOCKED)."""
    settings = make_settings(tmp_path, postgres_url)
    app = build_app(settings)
    client, tokens = app.test_client(), Tokens(settings)
    held_id, free_id = (create(client, tokens)["id"] for _ in range(2))
    at, outcome = utcnow() + SIX_YEARS, {}
    try:
        with app.extensions["worklink"].database.engine.connect() as holder:
            holder.execute(sa.select(Suggestion.id).where(Suggestion.id == uuid.UUID(held_id)).with_for_update())
            run = threading.Thread(target=lambda: outcome.setdefault("erased", retain(app, at)))
            run.start()
            run.join(timeout=15)
            finished_while_held = not run.is_alive()
            holder.rollback()  # the clinician's transaction ends
            run.join()
        assert finished_while_held and outcome["erased"] == 1
        assert row(app, free_id)["erased_at"] is not None and row(app, held_id)["erased_at"] is None
        assert retain(app, at) == 1 and row(app, held_id)["erased_at"] is not None
    finally:
        app.extensions["worklink"].database.dispose()
