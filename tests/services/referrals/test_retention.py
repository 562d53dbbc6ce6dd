"""Records retention: REFERRALS_RETENTION_YEARS after a referral ended, the clock job erases the person's
details from it and everything hanging off it, keeps what insights and the audit trail need, and never
touches an open referral (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tests.services.referrals.conftest import nhs_number
from worklink.config import ConfigError
from worklink_referrals import insights, jobs, rights
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import Base, Referral, SustainmentCheck

# A day past six calendar years from late 2026 (2028 and 2032 are leap years).
SIX_YEARS = timedelta(days=6 * 365 + 2 + 1)


def person(i: int, **extra) -> dict:
    return {"nhs_number": nhs_number(i), "given_name": f"Ada{i}", "family_name": "Lovelace", **extra}


def cancelled(h, i: int, **extra) -> str:
    """Accepted, a case note kept, then cancelled by the alliance with an explanation."""
    rid = h.refer(person(i, **extra)).get_json()["id"]
    assert h.act(rid, "accept", adviser_id="adviser-1").status_code == 200
    assert h.client.post(f"/referrals/{rid}/notes", json={"text": "Prefers mornings"},
                         headers=h.adviser()).status_code == 201
    done = h.act(rid, "cancel", headers=h.admin(), reason="other", text="Moved to Leeds")
    assert done.status_code == 200, done.get_json()
    return rid


def completed_with_job(h, i: int, **extra) -> str:
    """Completed with a job start today: its sustainment checks fall due 13 and 26 weeks later."""
    rid = h.refer(person(i, **extra)).get_json()["id"]
    for action, data in (("accept", {"adviser_id": "adviser-1"}), ("make_first_contact", {}),
                         ("record_outcome", {"type": "job_start", "occurred_on": h.clock.now.date().isoformat(),
                                             "hours_band": "30_plus"}),
                         ("complete", {"end_reason": "goals_met"})):
        done = h.act(rid, action, **data)
        assert done.status_code == 200, done.get_json()
    return rid


def run_job(h, at: datetime, settings: ReferralSettings | None = None) -> None:
    jobs.run_once(h.ctx.database, settings or ReferralSettings(), now=at, keep_withdrawals=timedelta(days=12))


def row(h, rid: str) -> dict:
    with h.ctx.database.engine.connect() as conn:
        return dict(conn.execute(sa.select(Referral.__table__).where(Referral.id == uuid.UUID(rid))).mappings().one())


def erase_audits(h) -> list[tuple]:
    audit = h.ctx.tables.audit_log.c
    with h.ctx.database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(audit.resource_id, audit.actor, audit.purpose)
                                               .where(audit.action == "erase").order_by(audit.id))]


def text_held(h, excluded=("outbox", "audit_log")) -> str:
    """Every value in the service's own tables (the outbox's restricted rows go with the relay's pruning)."""
    found = []
    with h.ctx.database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in excluded:
                found += [str(value) for r in conn.execute(sa.select(table)) for value in r]
    return "\n".join(found)


def test_retention_erases_the_person_from_ended_referrals_after_the_period_and_never_from_open_ones(both):
    h = both
    gone = cancelled(h, 1, postcode="GL1 2AB", email="ada@example.org")
    kept_open = h.refer(person(2, family_name="Byron")).get_json()["id"]  # open for years: still the person's
    open_before = row(h, kept_open)
    ended_at = h.clock.now

    run_job(h, ended_at + SIX_YEARS - timedelta(days=3))  # not yet six years
    assert row(h, gone)["erased_at"] is None and erase_audits(h) == []

    run_job(h, ended_at + SIX_YEARS)
    erased = row(h, gone)
    assert erased["erased_at"] is not None
    for name in ("nhs_number", "given_name", "family_name", "birth_date", "postcode", "email", "phone", "reason",
                 "status_text", "status_link_hash"):
        assert erased[name] is None, name
    assert erased["match_key"] == f"erased:{uuid.UUID(gone).hex}"  # links to no other referral of the person
    # What insights and the audit trail need stays.
    assert (erased["status"], erased["status_reason"], erased["area"], erased["deprivation_decile"],
            erased["employment_situation"], erased["age_band"]) == ("cancelled", "other", "GL1", 3,
                                                                      "off_sick_fit_note", "35_49")
    assert erased["submitted_at"] is not None and erased["closed_at"] is not None
    assert row(h, kept_open) == open_before  # an open referral is never touched
    held = text_held(h)
    assert "Byron" in held and "Lovelace" not in held  # only the open referral's person is still there
    held_about_gone = held.replace("Byron", "").replace(nhs_number(2), "")
    for secret in ("Ada1", nhs_number(1), "ada@example.org", "Moved to Leeds", "Prefers mornings"):
        assert secret not in held_about_gone, secret
    assert erase_audits(h) == [(gone, "system", "retention")]

    # Readers see an erased referral without the person, and nobody can act on it or add to it.
    shown = h.client.get(f"/referrals/{gone}", headers=h.admin()).get_json()
    assert "person" not in shown and shown["erased_at"] and shown["allowed_actions"] == []
    assert [n.get("text") for n in shown["notes"]] == [None]
    version = shown["version"]
    assert h.act(gone, "enter_in_error", headers=h.admin(), version=version, text="x").status_code == 409
    assert h.client.post(f"/referrals/{gone}/notes", json={"text": "more"},
                         headers=h.adviser()).status_code == 409

    run_job(h, ended_at + SIX_YEARS + timedelta(days=30))  # idempotent: nothing erased twice
    assert erase_audits(h) == [(gone, "system", "retention")]


def test_an_outcome_or_sustainment_check_after_closing_moves_the_end(both):
    """The period runs from the referral's last activity: the 26-week check due after a job start, a
    later outcome - not from the day it was closed."""
    h = both
    job = completed_with_job(h, 3)
    closed = h.clock.now
    checks_over = closed + timedelta(weeks=26)

    run_job(h, closed + SIX_YEARS + timedelta(days=1))
    assert row(h, job)["erased_at"] is None  # its 26-week check was due long after it closed

    h.clock.advance(weeks=20)
    late = h.act(job, "record_outcome", type="sustained_job_outcome", occurred_on=h.clock.now.date().isoformat(),
                 weeks_in_work=13, period_weeks=16, hours_per_week=30, sustainment_check_weeks=13)
    assert late.status_code == 200, late.get_json()
    run_job(h, checks_over + SIX_YEARS + timedelta(days=1))
    erased = row(h, job)
    assert erased["erased_at"] is not None and erased["given_name"] is None
    with h.ctx.database.transaction() as session:  # the check done stays (dates); the one never done is dropped
        checks = session.scalars(sa.select(SustainmentCheck).where(SustainmentCheck.referral_id == uuid.UUID(job)))
        assert [(c.weeks, c.done_at is not None) for c in checks] == [(13, True)]


def test_insights_give_the_same_figures_before_and_after_erasure(both):
    h = both
    ids = []
    for i in range(12):
        born = "1985-12-10" if i % 2 else "2001-03-04"  # two age bands, both shown (6 each)
        extra = {"birth_date": born, "sex": "female" if i < 6 else "male", "ethnicity": "white_british",
                 "postcode": "GL1 2AB" if i < 7 else "GL4 6CD", "deprivation_decile": 2 + i % 3}
        ids.append(completed_with_job(h, 10 + i, **extra) if i % 3 else cancelled(h, 10 + i, **extra))
    later = h.clock.now + timedelta(weeks=27) + SIX_YEARS
    today = later.date()
    with h.ctx.database.transaction() as session:
        before = insights.build(session, today)
    assert before["equity"]["age_band"]["35_49"]["referrals"] == 6  # figures really shown, not suppressed

    run_job(h, later)
    assert all(row(h, rid)["erased_at"] is not None for rid in ids)
    with h.ctx.database.transaction() as session:
        after = insights.build(session, today)
    assert after == before


def test_batches_erase_everything_due_in_several_transactions(both):
    h = both
    ids = [cancelled(h, 30 + i) for i in range(5)]
    erased = rights.apply_retention(h.ctx.database, ReferralSettings(), h.clock.now + SIX_YEARS, limit=2)
    assert erased == 5 and all(row(h, rid)["erased_at"] is not None for rid in ids)
    assert rights.apply_retention(h.ctx.database, ReferralSettings(), h.clock.now + SIX_YEARS, limit=2) == 0


def test_a_shorter_retention_period_is_configurable(both):
    h = both
    gone = cancelled(h, 40)
    run_job(h, h.clock.now + timedelta(days=366), ReferralSettings.from_env({"REFERRALS_RETENTION_YEARS": "1"}))
    assert row(h, gone)["erased_at"] is not None


@pytest.mark.parametrize("value", ["0", "-1", "six", "1.5"])
def test_a_retention_period_that_is_not_a_whole_number_of_years_is_refused(value):
    with pytest.raises(ConfigError):
        ReferralSettings.from_env({"REFERRALS_RETENTION_YEARS": value})


def test_six_years_is_the_default():
    assert ReferralSettings.from_env({}).retention_years == 6
    assert rights.years_before(datetime(2032, 2, 29, tzinfo=timezone.utc), 6) == datetime(2026, 2, 28,
                                                                                          tzinfo=timezone.utc)


def test_pages_show_an_erased_referral_without_the_person(both):
    h = both
    gone = cancelled(h, 50)
    run_job(h, h.clock.now + SIX_YEARS)
    html = {"Accept": "text/html"}
    for path in (f"/queue/{gone}", "/queue?view=all"):
        shown = h.client.get(path, headers={**h.admin(), **html})
        assert shown.status_code == 200, path
        assert "Ada50" not in shown.get_data(as_text=True) and "Prefers mornings" not in shown.get_data(as_text=True)
        # erased, not "consent withdrawn": the person never withdrew anything
        assert "Details erased" in shown.get_data(as_text=True) and "consent withdrawn)" not in shown.get_data(as_text=True)
    sent = h.client.get("/sent", headers={**h.gp(), **html})
    assert sent.status_code == 200 and "Details erased" in sent.get_data(as_text=True)
    assert h.client.get("/alliance/insights", headers={**h.admin(), **html}).status_code == 200


def test_retention_passes_over_a_referral_someone_is_acting_on_and_erases_it_next_time(make_harness, postgres_url):
    """PostgreSQL: a row locked by an action in progress (an outcome being recorded) is skipped, not waited
    for: the job never stalls behind a user, and the action's change is seen before erasing."""
    h = make_harness(postgres_url)
    h.add_service()
    gone = cancelled(h, 60)
    at = h.clock.now + SIX_YEARS
    erased: list[int] = []
    with h.ctx.database.transaction() as session:
        session.execute(sa.select(Referral.id).where(Referral.id == uuid.UUID(gone)).with_for_update(key_share=True))
        job = threading.Thread(target=lambda: erased.append(rights.apply_retention(h.ctx.database,
                                                                                   ReferralSettings(), at)))
        job.start()
        job.join(timeout=20)
        waited = job.is_alive()
    job.join()
    assert not waited and erased == [0]
    assert rights.apply_retention(h.ctx.database, ReferralSettings(), at) == 1


def test_the_migration_keeps_existing_referrals_and_their_history(both, database_url):
    """Migration 0011 rebuilds the referrals table on SQLite (nullable name and birth date): an existing
    referral with its history, notes and contact attempts survives it, both ways; a database holding an
    erased referral refuses the downgrade (the person cannot be put back)."""
    from alembic import command

    from worklink.migrations import alembic_config, upgrade
    from worklink.service import get_service

    h = both
    rid = cancelled(h, 70)
    migrations = get_service("referrals").migrations_dir
    counts = "SELECT (SELECT count(*) FROM transitions), (SELECT count(*) FROM notes), (SELECT count(*) FROM referrals)"
    with h.ctx.database.engine.connect() as conn:
        before = tuple(conn.execute(sa.text(counts)).one())
    command.downgrade(alembic_config(migrations, database_url), "referrals_0010")
    upgrade(migrations, database_url)
    h.ctx.database.engine.dispose()
    with h.ctx.database.engine.connect() as conn:
        assert tuple(conn.execute(sa.text(counts)).one()) == before
    shown = h.client.get(f"/referrals/{rid}", headers=h.admin()).get_json()
    assert shown["person"]["given_name"] == "Ada70" and len(shown["notes"]) == 1

    run_job(h, h.clock.now + SIX_YEARS)
    with pytest.raises(RuntimeError, match="cannot be downgraded"):
        command.downgrade(alembic_config(migrations, database_url), "referrals_0010")
