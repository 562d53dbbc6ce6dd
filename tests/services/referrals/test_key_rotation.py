"""Rotating REFERRALS_PERSON_KEY (worklink.keyring): the clock job (or `worklink referrals rekey-people`)
rewrites under the new key the match keys a retired key made, so a person referred again after the rotation
is found as the same person (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.services.referrals.conftest import nhs_number, referral_body
from worklink.config import ConfigError
from worklink_referrals import jobs
from worklink_referrals.cli import main
from worklink_referrals.config import ReferralSettings
from worklink_referrals.models import Referral
from worklink_referrals.services import match_key

OLD, NEW = "old-key-" + "o" * 32, "new-key-" + "n" * 32
ADA = ("Ada", "Lovelace", "1985-12-10", "GL1 2AB")


def without_nhs_number(h):
    """Ada referred with no NHS number: found again by name, birth date and postcode only."""
    body = referral_body()
    del body["person"]["nhs_number"]
    return h.client.post("/referrals", json=body, headers=h.gp())


def keys(h) -> dict[uuid.UUID, str]:
    with h.ctx.database.engine.connect() as conn:
        return dict(conn.execute(sa.select(Referral.id, Referral.match_key)).all())


def test_the_clock_job_rekeys_people_so_a_duplicate_is_found_after_the_rotation(make_harness, database_url):
    before = make_harness(database_url, ReferralSettings(expose_codes=True, person_key=OLD))
    before.add_service()
    first = without_nhs_number(before).get_json()["id"]
    assert keys(before)[uuid.UUID(first)] == match_key(*ADA, OLD)

    rotated_settings = ReferralSettings(expose_codes=True, person_key=NEW, previous_person_keys=(OLD,))
    rotated = make_harness(database_url, rotated_settings)
    jobs.run_once(rotated.ctx.database, rotated_settings, now=rotated.clock.now)
    assert keys(rotated)[uuid.UUID(first)] == match_key(*ADA, NEW)
    again = without_nhs_number(rotated)
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == first, again.get_json()
    other = rotated.refer({"nhs_number": nhs_number(3), "given_name": "Grace"})
    assert other.status_code == 201  # someone else is no duplicate
    assert jobs.run_once(rotated.ctx.database, rotated_settings, now=rotated.clock.now) == 0
    assert keys(rotated)[uuid.UUID(first)] == match_key(*ADA, NEW)  # a second pass changes nothing


def test_before_the_rekeying_an_intake_still_finds_a_duplicate_made_under_the_retired_key(make_harness,
                                                                                        database_url):
    before = make_harness(database_url, ReferralSettings(expose_codes=True, person_key=OLD))
    before.add_service()
    first = without_nhs_number(before).get_json()["id"]
    rotated = make_harness(database_url, ReferralSettings(expose_codes=True, person_key=NEW, previous_person_keys=(OLD,)))
    again = without_nhs_number(rotated)  # no clock pass yet: the first still has its old key
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == first, again.get_json()


def test_the_rekey_command_rewrites_at_once_and_refuses_without_a_retired_key(make_harness, monkeypatch, tmp_path):
    before = make_harness(None, ReferralSettings(expose_codes=True, person_key=OLD))
    before.add_service()
    first = uuid.UUID(before.refer().get_json()["id"])
    monkeypatch.setenv("WORKLINK_VAR", str(tmp_path))
    monkeypatch.setenv("REFERRALS_DATABASE_URL", before.ctx.database.url)
    monkeypatch.setenv("REFERRALS_PERSON_KEY", NEW)
    monkeypatch.delenv("REFERRALS_PERSON_KEY_PREVIOUS", raising=False)
    refused = CliRunner().invoke(main, ["rekey-people"])
    assert refused.exit_code == 1 and "REFERRALS_PERSON_KEY_PREVIOUS is not set" in refused.output

    monkeypatch.setenv("REFERRALS_PERSON_KEY_PREVIOUS", OLD)
    done = CliRunner().invoke(main, ["rekey-people"])
    assert done.exit_code == 0 and done.output.startswith("re-keyed 1 referrals"), done.output
    assert keys(before)[first] == match_key(*ADA, NEW)


def test_a_retired_person_key_must_be_as_long_as_a_current_one():
    with pytest.raises(ConfigError, match="REFERRALS_PERSON_KEY_PREVIOUS: each key must be 32 or more characters"):
        ReferralSettings.from_env({"REFERRALS_PERSON_KEY_PREVIOUS": "short"})
    assert ReferralSettings.from_env({"REFERRALS_PERSON_KEY_PREVIOUS": OLD}).previous_person_keys == (OLD,)


def test_a_referral_erased_while_the_rekey_runs_keeps_a_key_that_links_nobody(make_harness, postgres_url):
    """The re-key reads the match keys, then writes: a referral erased in between (a person's request, the
    retention pass) must not get back a key made from the erased details, which would link it to the person
    again. The write waits for the erasure's lock here, as it would on a busy database (PostgreSQL)."""
    from worklink_referrals.rekeying import rekey_people
    from worklink_referrals.rights import SYSTEM, erase

    before = make_harness(postgres_url, ReferralSettings(expose_codes=True, person_key=OLD))
    before.add_service()
    rid = without_nhs_number(before).get_json()["id"]
    assert before.act(rid, "cancel", headers=before.admin(), reason="other", text="Moved away").status_code == 200
    grace = referral_body({"given_name": "Grace"})
    del grace["person"]["nhs_number"]
    kept = before.client.post("/referrals", json=grace, headers=before.gp()).get_json()["id"]
    database = before.ctx.database
    rewritten = []
    rekey = threading.Thread(target=lambda: rewritten.append(rekey_people(database, NEW, (OLD,))))
    waiting = sa.text("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                      "WHERE NOT l.granted AND a.datname = current_database()")
    with database.transaction() as session:
        referral = session.get(Referral, uuid.UUID(rid), with_for_update=True)
        rekey.start()
        with database.engine.connect() as watcher:
            for _ in range(1000):
                found = watcher.execute(waiting).scalar()
                watcher.rollback()  # pg_stat_activity is read once per transaction
                if found or not rekey.is_alive():
                    break
                time.sleep(0.01)
        erase(session, referral, before.clock.now, purpose="test", principal=SYSTEM)
    rekey.join(30)
    assert keys(before)[uuid.UUID(rid)] == f"erased:{uuid.UUID(rid).hex}"
    assert keys(before)[uuid.UUID(kept)] == match_key("Grace", *ADA[1:], NEW)  # the rest is re-keyed
    assert rewritten == [1]
