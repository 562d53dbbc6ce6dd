"""Retention and a referral request nobody answers: once it has had no news for the whole retention period
(its hand-over dead-lettered and never re-driven, say), the sweep withdraws the consent it was made with -
the patient's own withdrawal path: the request ends as consent_withdrawn, adjustments.referral.consent_withdrawn
goes out for the referrals service, audited - then erases the suggestion as usual. A request with recent news
keeps it (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import sqlalchemy as sa

from tests.services.adjustments.test_retention import (LINK_TTL, OPEN_ENDED, PERSONAL, SIX_YEARS, issue, outbox,
                                                       retain, row, text_held, withdrawn)
from worklink.db import utcnow
from worklink_adjustments import sweep
from worklink_adjustments.models import PLATFORM, ReferralRequest

REFER = {"consent.refer_to_employment_adviser": True}


def request_of(app, sid: str) -> ReferralRequest:
    with app.extensions["worklink"].database.engine.connect() as conn:
        return conn.execute(sa.select(ReferralRequest.__table__)
                            .where(ReferralRequest.suggestion_id == uuid.UUID(sid))).one()


def events(app, type_: str) -> list[dict]:
    table = PLATFORM.outbox
    with app.extensions["worklink"].database.engine.connect() as conn:
        return [json.loads(p)["data"] for p in conn.execute(
            sa.select(table.c.payload).where(table.c.type == type_).order_by(table.c.position)).scalars()]


def audited(app, sid: str) -> list[tuple]:
    audit = PLATFORM.audit_log.c
    with app.extensions["worklink"].database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(audit.action, audit.actor, audit.purpose, audit.person_id)
                                               .where(audit.resource_id == sid, audit.actor == "system")
                                               .order_by(audit.id))]


def test_a_request_unanswered_for_the_whole_period_is_withdrawn_and_the_suggestion_erased(svc):
    app, client, tokens = svc
    stale = withdrawn(client, tokens, **REFER)  # ended advice; the referrals service never answered
    current = issue(client, tokens, **REFER, **OPEN_ENDED)["id"]  # current advice: never erased, however old
    request_id = str(request_of(app, stale).id)
    assert request_of(app, stale).status == "requested" and events(app, "adjustments.referral.consent_withdrawn") == []

    at = utcnow() + SIX_YEARS + LINK_TTL + timedelta(days=1)  # past the employer link's expiry too
    done = sweep.run_once(app.extensions["worklink"].database, outbox(app), now=at)
    assert done["erased_past_retention"] == 1

    ended = request_of(app, stale)
    assert (ended.status, ended.reason) == ("consent_withdrawn", "consent_withdrawn")
    [told] = events(app, "adjustments.referral.consent_withdrawn")  # the referrals service hears it
    assert (told["request_id"], told["suggestion_id"], told["recorded_by"]) == (request_id, stale, "system")
    # The stale request's hand-over (the person's details) left the outbox with the erasure.
    assert [e["suggestion_id"] for e in events(app, "adjustments.referral.requested")] == [current]
    assert row(app, stale)["erased_at"] is not None and row(app, stale)["nhs_number"] is None
    # Audited as the withdrawal path audits it, then the erasure; both name the suggestion, not the patient.
    assert audited(app, stale) == [("update", "system", "referral_consent_withdrawn", stale),
                                   ("erase", "system", "retention", stale)]
    held = text_held(app, {stale})
    for secret in PERSONAL:
        assert secret not in held, secret

    assert request_of(app, current).status == "requested" and row(app, current)["erased_at"] is None
    assert sweep.run_once(app.extensions["worklink"].database, outbox(app), now=at)["erased_past_retention"] == 0
    assert len(events(app, "adjustments.referral.consent_withdrawn")) == 1  # withdrawn once


def test_a_request_with_news_within_the_period_keeps_the_suggestion(svc):
    app, client, tokens = svc
    sid = withdrawn(client, tokens, **REFER)
    at = utcnow() + SIX_YEARS + LINK_TTL + timedelta(days=1)
    news = at - timedelta(days=365)  # the referrals service last said something a year before the sweep
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(ReferralRequest).values(status="accepted", status_changed_at=news))

    assert retain(app, at) == 0
    assert request_of(app, sid).status == "accepted" and row(app, sid)["erased_at"] is None
    assert events(app, "adjustments.referral.consent_withdrawn") == []

    # Six years after that news with none since, it is stale too.
    assert retain(app, news + SIX_YEARS) == 1
    assert request_of(app, sid).status == "consent_withdrawn" and row(app, sid)["erased_at"] is not None
    assert len(events(app, "adjustments.referral.consent_withdrawn")) == 1
