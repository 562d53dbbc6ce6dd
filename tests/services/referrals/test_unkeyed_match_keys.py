"""Rolling deploys: replicas migrate as they start, so one still running the code before migration 0008 can take
in a referral after the migration ran, with the match key that code made (a plain SHA-256 of the person's name,
birth date and postcode, no person key). Intake finds such a referral as the same person meanwhile, and the
clock job's re-key pass rewrites its key under the person key, in pages, once (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

import worklink_referrals
from tests.services.referrals.conftest import referral_body
from worklink_referrals import jobs, rekeying
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import Referral
from worklink_referrals.services import match_key

KEY = "person-key-" + "k" * 32
PEOPLE = [("Ada", "Lovelace", "1985-12-10", "GL1 2AB"), ("Grace", "Hopper", "1986-01-02", "gl50 1aa"),
          ("Alan", "Turing", "1984-06-23", None)]


def migration_0008():
    path = Path(worklink_referrals.__file__).parent / "migrations" / "versions" / "0008_keyed_person_key.py"
    spec = importlib.util.spec_from_file_location("referrals_0008", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def old_replica_key(given, family, birth, postcode) -> str:
    """The key the code before 0008 wrote, as the migration's downgrade puts it back."""
    return migration_0008()._plain_match_key(SimpleNamespace(given_name=given, family_name=family,
                                                             birth_date=birth, postcode=postcode))


def refer(h, person):
    given, family, birth, postcode = person
    body = referral_body({"given_name": given, "family_name": family, "birth_date": birth, "postcode": postcode})
    del body["person"]["nhs_number"]  # found again by name, birth date and postcode only
    if postcode is None:
        del body["person"]["postcode"]
    return h.client.post("/referrals", json=body, headers=h.gp())


def taken_in_by_an_old_replica(h, person) -> uuid.UUID:
    """A referral written after the migration with the unkeyed match key, as the old code wrote it."""
    rid = uuid.UUID(refer(h, person).get_json()["id"])
    with h.ctx.database.transaction() as session:
        session.execute(sa.update(Referral).where(Referral.id == rid).values(match_key=old_replica_key(*person)))
    return rid


def keys(h) -> dict[uuid.UUID, str]:
    with h.ctx.database.engine.connect() as conn:
        return dict(conn.execute(sa.select(Referral.id, Referral.match_key)).all())


def test_a_referral_an_old_replica_took_in_is_found_and_then_rekeyed(make_harness, database_url, monkeypatch):
    settings = ReferralSettings(expose_codes=True, person_key=KEY)
    h = make_harness(database_url, settings)
    h.add_service()
    leftovers = [taken_in_by_an_old_replica(h, person) for person in PEOPLE]
    assert keys(h)[leftovers[0]] == old_replica_key(*PEOPLE[0]) != match_key(*PEOPLE[0], KEY)

    again = refer(h, PEOPLE[0])  # before any clock pass: still the same person
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == str(leftovers[0]), again.get_json()

    monkeypatch.setattr(rekeying, "BATCH", 2)  # three leftovers: two pages
    jobs.run_once(h.ctx.database, settings, now=h.clock.now)
    assert [keys(h)[rid] for rid in leftovers] == [match_key(*person, KEY) for person in PEOPLE]
    assert rekeying.rekey_people(h.ctx.database, KEY, ()) == 0  # once: a second pass changes nothing
    again = refer(h, PEOPLE[1])
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == str(leftovers[1]), again.get_json()


def test_the_rekey_pass_leaves_keyed_and_erased_referrals_alone(make_harness, database_url):
    from worklink_referrals.rights import SYSTEM, erase

    settings = ReferralSettings(expose_codes=True, person_key=KEY)
    h = make_harness(database_url, settings)
    h.add_service()
    keyed = uuid.UUID(refer(h, PEOPLE[0]).get_json()["id"])
    erased = taken_in_by_an_old_replica(h, PEOPLE[1])
    assert h.act(erased, "cancel", headers=h.admin(), reason="other", text="Moved away").status_code == 200
    with h.ctx.database.transaction() as session:
        erase(session, session.get(Referral, erased), h.clock.now, purpose="test", principal=SYSTEM)
    before = keys(h)
    assert rekeying.rekey_people(h.ctx.database, KEY, ()) == 0
    assert keys(h) == before and before[keyed] == match_key(*PEOPLE[0], KEY)


def test_without_a_previous_key_the_clock_job_looks_at_the_last_week_of_intake_only(make_harness, database_url):
    """A match key is made at intake alone: the five-minutely pass reads the referrals submitted in the last
    UNKEYED_WINDOW, not every referral held; the rekey-people command (no window) reads them all."""
    settings = ReferralSettings(expose_codes=True, person_key=KEY)
    h = make_harness(database_url, settings)
    h.add_service()
    leftover = taken_in_by_an_old_replica(h, PEOPLE[0])
    h.clock.advance(days=8)
    jobs.run_once(h.ctx.database, settings, now=h.clock.now)
    assert keys(h)[leftover] == old_replica_key(*PEOPLE[0])
    assert rekeying.rekey_people(h.ctx.database, KEY, ()) == 1
    assert keys(h)[leftover] == match_key(*PEOPLE[0], KEY)


COMPOSED, DECOMPOSED = "Zo\u00eb", "Zoe\u0308"  # "Zoë" as one character, and as "e" + a combining diaeresis


def test_a_name_typed_composed_or_decomposed_is_the_same_person(make_harness, database_url):
    """Some keyboards and copied text give "ë" as two characters: the match key read the names as given, so the
    same person referred twice was two people."""
    h = make_harness(database_url, ReferralSettings(expose_codes=True, person_key=KEY))
    h.add_service()
    first = refer(h, (DECOMPOSED, "Lovelace", "1985-12-10", "GL1 2AB"))
    assert first.status_code == 201, first.get_json()
    again = refer(h, (COMPOSED, "Lovelace", "1985-12-10", "GL1 2AB"))
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == first.get_json()["id"], again.get_json()


def test_a_key_made_from_a_decomposed_name_before_is_found_and_then_rekeyed(make_harness, database_url):
    settings = ReferralSettings(expose_codes=True, person_key=KEY)
    h = make_harness(database_url, settings)
    h.add_service()
    person = (DECOMPOSED, "Lovelace", "1985-12-10", "GL1 2AB")
    rid = uuid.UUID(refer(h, person).get_json()["id"])
    made_before = match_key(*person, KEY, form=None)  # the names as given, as the code before normalisation
    assert made_before != match_key(*person, KEY)
    with h.ctx.database.transaction() as session:
        session.execute(sa.update(Referral).where(Referral.id == rid).values(match_key=made_before))
    again = refer(h, (COMPOSED, *person[1:]))
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == str(rid), again.get_json()
    jobs.run_once(h.ctx.database, settings, now=h.clock.now)
    assert keys(h)[rid] == match_key(COMPOSED, *person[1:], KEY)


@pytest.mark.parametrize("typed", ["Mary  Ann", "Mary\u00a0Ann", "Mary\tAnn", " Mary   Ann "])
def test_a_name_typed_with_other_spaces_is_the_same_person(make_harness, typed):
    """A double space, or a no-break space or tab copied from a letter or a record, inside a name: the match key
    kept the spaces as typed, so the same person referred twice to the same service was two open referrals."""
    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, person_key=KEY))
    h.add_service()
    first = refer(h, ("Mary Ann", "Lovelace", "1985-12-10", "GL1 2AB"))
    assert first.status_code == 201, first.get_json()
    again = refer(h, (typed, "Lovelace", "1985-12-10", "GL1 2AB"))
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == first.get_json()["id"], again.get_json()


@pytest.mark.parametrize("typed", ["O\u2019Brien-Smith", "O\u2018Brien\u2013Smith", "O\u02bcBrien\u2010Smith"])
def test_a_name_typed_with_another_apostrophe_or_hyphen_is_the_same_person(make_harness, typed):
    """A phone's keyboard types O’Brien with a curly apostrophe, a copied record may give an en dash for a hyphen:
    the match key kept the marks as typed, so a GP's referral and the person's own were two people."""
    h = make_harness(referral_settings=ReferralSettings(expose_codes=True, person_key=KEY))
    h.add_service()
    first = refer(h, ("Mary", "O'Brien-Smith", "1985-12-10", "GL1 2AB"))
    assert first.status_code == 201, first.get_json()
    again = refer(h, ("Mary", typed, "1985-12-10", "GL1 2AB"))
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == first.get_json()["id"], again.get_json()


def test_a_key_made_from_spaces_as_typed_before_is_found_and_then_rekeyed(make_harness, database_url):
    settings = ReferralSettings(expose_codes=True, person_key=KEY)
    h = make_harness(database_url, settings)
    h.add_service()
    person = ("Mary  Ann", "Lovelace", "1985-12-10", "GL1 2AB")
    rid = uuid.UUID(refer(h, person).get_json()["id"])
    made_before = match_key(*person, KEY, folded=False)  # as the code before spaces were folded
    assert made_before != match_key(*person, KEY)
    with h.ctx.database.transaction() as session:
        session.execute(sa.update(Referral).where(Referral.id == rid).values(match_key=made_before))
    again = refer(h, person)  # typed the same way again: found under the key it was given then
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == str(rid), again.get_json()
    jobs.run_once(h.ctx.database, settings, now=h.clock.now)
    assert keys(h)[rid] == match_key("Mary Ann", *person[1:], KEY)
    single = refer(h, ("Mary Ann", *person[1:]))
    assert single.status_code == 409 and single.get_json()["duplicate_of"] == str(rid), single.get_json()
