"""Rotating the adjustments service's keys (worklink.keyring): an employer link signed before
ADJUSTMENTS_LINK_SECRET changed still opens while the old secret is kept as previous, and the audit
trail's patient references made under a retired ADJUSTMENTS_PERSON_KEY are re-keyed by the sweep, or go
with an erasure before it has run (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.services.adjustments.conftest import VALID_NHS, Tokens, make_settings
from tests.services.adjustments.test_employer_api_and_rounds import letter_token
from tests.services.adjustments.test_retention import issue, outbox
from worklink.config import ConfigError
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_adjustments import config, sweep
from worklink_adjustments.app import create_app
from worklink_adjustments.models import PLATFORM
from worklink_adjustments.services import person_reference

OLD, NEW = "old-key-" + "o" * 32, "new-key-" + "n" * 32


@pytest.fixture()
def service(tmp_path, database_url):
    """make(**config) builds the service on one database with those keys, as a redeploy would."""
    settings = make_settings(tmp_path, database_url)
    upgrade(get_service("adjustments").migrations_dir, settings.database_url)
    apps = []

    def make(**keys):
        app = create_app(config=keys, settings=settings)
        apps.append(app)
        return app, app.test_client()

    yield make, Tokens(settings)
    for app in apps:
        app.extensions["worklink"].database.dispose()


def test_an_employer_link_signed_before_the_secret_was_rotated_opens_until_the_old_secret_is_dropped(service):
    make, tokens = service
    before, client = make(EMPLOYER_LINK_SECRET=OLD)
    sid = issue(client, tokens)["id"]
    printed = letter_token(client, tokens, sid)  # the letter the employer already holds

    rotated, client = make(EMPLOYER_LINK_SECRET=NEW, EMPLOYER_LINK_PREVIOUS_SECRETS=(OLD,))
    assert client.get(f"/employer-links/{printed}").status_code == 200
    reprinted = letter_token(client, tokens, sid)
    assert reprinted != printed and client.get(f"/employer-links/{reprinted}").status_code == 200

    dropped, client = make(EMPLOYER_LINK_SECRET=NEW)
    refused = client.get(f"/employer-links/{printed}")
    assert refused.status_code == 404 and refused.mimetype == "application/problem+json"
    assert client.get(f"/employer-links/{reprinted}").status_code == 200


def references(app) -> set[str]:
    audit = PLATFORM.audit_log.c
    with app.extensions["worklink"].database.engine.connect() as conn:
        rows = conn.execute(sa.select(audit.person_id, audit.resource_id)).all()
    return {value for row in rows for value in row if value}


def admin(tokens) -> dict:
    return tokens.header(role="alliance_admin", org=None, subject="ig-lead")


def test_the_sweep_rekeys_the_audit_trail_after_the_person_key_is_rotated(service):
    make, tokens = service
    before, client = make(PERSON_KEY=OLD)
    sid = issue(client, tokens)["id"]
    assert client.get(f"/suggestions/{sid}", headers=tokens.header()).status_code == 200
    reviewed = client.post("/audit/entries/search", json={"person": VALID_NHS}, headers=admin(tokens))
    entries = reviewed.get_json()["total"]
    assert entries >= 3  # created, issued, read
    old, new = person_reference(VALID_NHS, OLD), person_reference(VALID_NHS, NEW)

    rotated, client = make(PERSON_KEY=NEW, PREVIOUS_PERSON_KEYS=(OLD,))
    unrekeyed = client.post("/audit/entries/search", json={"person": VALID_NHS}, headers=admin(tokens))
    assert unrekeyed.get_json()["total"] == 0  # the trail still names the patient under the old key

    database = rotated.extensions["worklink"].database
    done = sweep.run_once(database, outbox(rotated), key=NEW, previous_keys=(OLD,))
    assert done["audit_references_rekeyed"] >= entries + 1  # the entries, and the review of them
    assert old not in references(rotated) and new in references(rotated)
    found = client.post("/audit/entries/search", json={"person": VALID_NHS, "action": "read"}, headers=admin(tokens))
    assert found.get_json()["total"] == 1 and found.get_json()["items"][0]["resource_id"] == sid
    assert sweep.run_once(database, outbox(rotated), key=NEW, previous_keys=(OLD,))["audit_references_rekeyed"] == 0


def test_an_erasure_before_the_rekeying_leaves_nothing_the_retired_key_made(service):
    make, tokens = service
    before, client = make(PERSON_KEY=OLD)
    issue(client, tokens)
    assert client.post("/audit/entries/search", json={"person": VALID_NHS}, headers=admin(tokens)).status_code == 200
    assert person_reference(VALID_NHS, OLD) in references(before)  # the review names whose accesses it read

    rotated, client = make(PERSON_KEY=NEW, PREVIOUS_PERSON_KEYS=(OLD,))
    erased = client.post("/people/erasure", json={"nhs_number": VALID_NHS, "reason": "objection"},
                         headers=admin(tokens))
    assert erased.status_code == 200, erased.get_json()
    held = references(rotated)
    assert person_reference(VALID_NHS, OLD) not in held and person_reference(VALID_NHS, NEW) not in held


@pytest.mark.parametrize("variable", ["ADJUSTMENTS_PERSON_KEY_PREVIOUS", "ADJUSTMENTS_LINK_SECRET_PREVIOUS"])
def test_every_process_refuses_to_start_with_a_short_retired_key(monkeypatch, tmp_path, variable):
    monkeypatch.setenv(variable, f"{OLD} too-short")
    with pytest.raises(ConfigError, match=f"{variable}: each key must be 32 or more characters"):
        config.check(make_settings(tmp_path))
    monkeypatch.setenv(variable, OLD)
    config.check(make_settings(tmp_path))


def test_the_rekey_command_rewrites_at_once_and_refuses_without_a_retired_key(service, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from worklink_adjustments.cli import main

    make, tokens = service
    before, client = make(PERSON_KEY=OLD)
    issue(client, tokens)
    monkeypatch.setenv("WORKLINK_VAR", str(tmp_path))
    monkeypatch.setenv("ADJUSTMENTS_DATABASE_URL", before.extensions["worklink"].database.url)
    monkeypatch.setenv("ADJUSTMENTS_PERSON_KEY", NEW)
    monkeypatch.delenv("ADJUSTMENTS_PERSON_KEY_PREVIOUS", raising=False)
    refused = CliRunner().invoke(main, ["rekey-audit"])
    assert refused.exit_code == 1 and "ADJUSTMENTS_PERSON_KEY_PREVIOUS is not set" in refused.output

    monkeypatch.setenv("ADJUSTMENTS_PERSON_KEY_PREVIOUS", OLD)
    done = CliRunner().invoke(main, ["rekey-audit"])
    assert done.exit_code == 0 and done.output.startswith("re-keyed 2 audit references"), done.output
    assert person_reference(VALID_NHS, OLD) not in references(before)
