"""Fixes from the second audit (privacy lens): the duplicate check tells nobody about a referral outside
their scope and is audited; the person id handed to notifications is keyed; a job start stays with the
adviser when the person kept outcomes from the referrer."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from tests.services.referrals.conftest import OTHER_ADVISERS, nhs_number, referral_body

OTHER_PRACTICE = "00000000-0000-4000-8000-00000000a002"


def refer_without_nhs_number(h, headers=None, **extra):
    body = referral_body(**extra)
    del body["person"]["nhs_number"]
    return h.client.post("/referrals", json=body, headers=headers or h.gp())


def duplicate_checks(h) -> list[tuple]:
    table = h.ctx.tables.audit_log
    with h.ctx.database.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(table.c.actor, table.c.actor_org, table.c.action, table.c.resource_id)
            .where(table.c.purpose == "duplicate check").order_by(table.c.id))]


def test_the_duplicate_check_tells_no_one_about_a_referral_they_cannot_read_and_is_audited(both):
    h = both
    first = h.refer().get_json()  # Demo practice's patient, routed to ADVISERS
    prober_person = {"given_name": "X", "family_name": "Y", "birth_date": "1990-01-01", "postcode": "GL7 1AA"}
    outsiders = {"gp-2": h.token("gp", OTHER_PRACTICE, "gp-2"), "adv-2": h.adviser("adv-2", OTHER_ADVISERS)}
    linked = {}
    for who, headers in outsiders.items():
        h.clock.advance(minutes=1)  # the earliest open referral is the duplicate
        probe = h.refer(prober_person, headers=headers)  # only the NHS number matches
        text = probe.get_data(as_text=True)
        assert probe.status_code == 201, text
        assert first["id"] not in text and first["reference"] not in text
        body = probe.get_json()
        assert (body["duplicate_of_id"], body.get("duplicate_reason")) == (None, None)
        assert [step["action"] for step in body["history"]] == ["submit"]
        linked[who] = body["id"]
        again = h.client.get(f"/referrals/{body['id']}", headers=headers).get_data(as_text=True)
        assert first["id"] not in again and "already has an open referral" not in again

    # The organisation that has both referrals, and the alliance, see the link.
    for headers in (h.adviser(), h.admin()):
        seen = h.client.get(f"/referrals/{linked['gp-2']}", headers=headers).get_json()
        assert seen["duplicate_of_id"] == first["id"] and "already has an open referral" in seen["duplicate_reason"]

    # The practice that made the first referral may read it: it is told (409), and that look is audited
    # although the intake itself rolled back.
    refused = h.refer()
    assert refused.status_code == 409 and refused.get_json()["duplicate_of"] == first["id"]
    assert duplicate_checks(h) == [("gp-2", OTHER_PRACTICE, "read", first["id"]),
                                   ("adv-2", OTHER_ADVISERS, "read", first["id"]),
                                   ("gp-1", first["referrer_org_id"], "read", first["id"])]


def test_a_re_referral_cannot_probe_another_organisations_referral(harness):
    """replaces_id naming a referral the caller cannot read is answered as one that does not exist."""
    h = harness
    first = h.refer().get_json()
    outsider = h.token("gp", OTHER_PRACTICE, "gp-2")
    theirs = refer_without_nhs_number(h, outsider, replaces_id=first["id"])
    unknown = refer_without_nhs_number(h, outsider, replaces_id=str(uuid.uuid4()))
    assert theirs.status_code == unknown.status_code == 400, theirs.get_json()
    mine = h.refer(replaces_id=first["id"], duplicate={"reason": "re-referral"}).get_json()
    assert mine["replaces_status"] == "submitted"  # its own referrer is told
    assert json.dumps(theirs.get_json()["errors"]) == json.dumps(unknown.get_json()["errors"])
    assert "replaces_status" not in theirs.get_json()


def _plain_person_id(given, family, birth_date, postcode) -> uuid.UUID:
    """The person id as an outsider computes it from everyday details (the old, unkeyed scheme)."""
    import hashlib
    digest = hashlib.sha256("|".join([given, family, birth_date, postcode]).encode()).hexdigest()
    return uuid.uuid5(uuid.NAMESPACE_OID, digest)


def test_the_person_id_given_to_notifications_is_keyed(make_harness, tmp_path):
    """Without referrals' person key nobody works out the person id from name, birth date and postcode;
    one person keeps one id across referrals and their self-referral code; another key gives another id."""
    from tests.services.referrals.conftest import with_updates
    from tests.services.referrals.test_audit_fixes import person_messages
    from worklink_referrals.config import ReferralSettings

    ids = {}
    for key in ("a" * 32, "b" * 32):
        h = make_harness(f"sqlite:///{tmp_path / key[0]}.db", ReferralSettings(expose_codes=True, person_key=key))
        h.add_service()
        rid = h.client.post("/referrals", json=with_updates(), headers=h.gp()).get_json()["id"]
        assert h.act(rid, "acknowledge").status_code == 200
        code = h.client.post("/self-referrals", json={
            "person": {"given_name": "ADA ", "family_name": "Lovelace", "birth_date": "1985-12-10",
                       "postcode": "gl12ab", "email": "ada@example.org"},
            "consent": {"explicit": True, "updates_by_email": True}, "employment_situation": "unemployed"})
        assert code.status_code == 202, code.get_json()
        messages = person_messages(h)
        assert {m["message_code"] for m in messages} == {"referral_received", "self_referral_code"}
        ids[key] = {m["person_id"] for m in messages}
    assert all(len(found) == 1 for found in ids.values()), ids  # one person, one id
    assert str(_plain_person_id("ada", "lovelace", "1985-12-10", "GL12AB")) not in ids["a" * 32] | ids["b" * 32]
    assert ids["a" * 32] != ids["b" * 32]


def test_production_needs_its_own_person_key():
    import pytest

    from worklink.config import ConfigError
    from worklink_referrals.config import ReferralSettings

    with pytest.raises(ConfigError, match="REFERRALS_PERSON_KEY"):
        ReferralSettings.from_env({"WORKLINK_ENV": "production"})
    with pytest.raises(ConfigError):
        ReferralSettings.from_env({"WORKLINK_ENV": "production", "REFERRALS_PERSON_KEY": "short"})
    assert ReferralSettings.from_env({"WORKLINK_ENV": "production", "REFERRALS_PERSON_KEY": "k" * 32}
                                     ).person_key == "k" * 32


def test_the_migration_re_keys_existing_referrals(make_harness, database_url):
    """A referral stored with the plain hash (as before the migration) is re-keyed, and is then found as
    the duplicate of a new intake by name, birth date and postcode alone."""
    from alembic import command

    from worklink.migrations import alembic_config, upgrade
    from worklink.service import get_service
    from worklink_referrals.config import DEVELOPMENT_PERSON_KEY
    from worklink_referrals.services import match_key

    h = make_harness(database_url)
    h.add_service()
    rid = refer_without_nhs_number(h).get_json()["id"]
    migrations = get_service("referrals").migrations_dir
    command.downgrade(alembic_config(migrations, database_url), "referrals_0007")
    read_key = lambda: h.ctx.database.engine.connect().execute(sa.text("SELECT match_key FROM referrals")).scalar_one()
    plain = _plain_person_id("ada", "lovelace", "1985-12-10", "GL12AB")
    assert uuid.uuid5(uuid.NAMESPACE_OID, read_key()) == plain  # the state before this fix
    upgrade(migrations, database_url)
    assert read_key() == match_key("Ada", "Lovelace", "1985-12-10", "GL1 2AB", DEVELOPMENT_PERSON_KEY)
    again = refer_without_nhs_number(h)
    assert again.status_code == 409 and again.get_json()["duplicate_of"] == rid


def _events(h, type_prefix: str) -> list[dict]:
    table = h.ctx.tables.outbox
    with h.ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.type, table.c.payload).order_by(table.c.position))
        return [{"type": t, **json.loads(p)["data"]} for t, p in rows if t.startswith(type_prefix)]


def test_a_job_start_reaches_the_referrer_only_if_the_person_agreed(both):
    """Outcomes kept from the referrer: the in-work stage and a 'goals met' ending are outcomes too, so the
    referrer (API, /sent, history, the broadcast lifecycle events its services show, feedback_ready) sees
    neither; the adviser organisation does; with the person's agreement the referrer does as well."""
    h = both
    kept, shared = [h.refer({"nhs_number": nhs_number(i), "given_name": f"P{i}"},
                            consent={**referral_body()["consent"], "outcomes_to_referrer": agreed}).get_json()["id"]
                    for i, agreed in ((0, False), (1, True))]
    for rid in (kept, shared):
        assert h.act(rid, "accept", adviser_id="adviser-1").status_code == 200
        h.act(rid, "make_first_contact")
        h.act(rid, "record_outcome", type="job_start", occurred_on="2026-11-23", hours_band="16_to_29")
        assert h.act(rid, "update_progress", business_status="in_work_support").status_code == 200
        assert h.act(rid, "put_on_hold", reason="person_unwell", review_date="2026-12-01").status_code == 200
    gp_view = h.client.get(f"/referrals/{kept}", headers=h.gp()).get_json()
    assert gp_view["business_status"] is None
    assert "in_work_support" not in json.dumps(gp_view) and "job_start" not in json.dumps(gp_view)
    sent = {i["id"]: i for i in h.client.get("/referrals?view=sent", headers=h.gp()).get_json()["items"]}
    assert (sent[kept]["business_status"], sent[shared]["business_status"]) == (None, "in_work_support")
    assert h.client.get(f"/referrals/{kept}", headers=h.adviser()).get_json()["business_status"] == "in_work_support"
    assert h.client.get(f"/referrals/{shared}", headers=h.gp()).get_json()["business_status"] == "in_work_support"
    held = {e["referral_id"]: e["business_status"] for e in _events(h, "referrals.referral.put_on_hold")}
    assert held == {kept: None, shared: "in_work_support"}

    for rid in (kept, shared):
        assert h.act(rid, "resume", note="better").status_code == 200
        assert h.act(rid, "complete", end_reason="goals_met").status_code == 200
    gp_view = h.client.get(f"/referrals/{kept}", headers=h.gp()).get_json()
    assert gp_view["status"] == "completed" and "goals_met" not in json.dumps(gp_view)
    page = h.client.get("/sent", headers={**h.gp(), "Accept": "text/html"}).get_data(as_text=True)
    assert page.count("Goals met") == 1  # the shared one's only
    feedback = {e["referral_id"]: e["reason"] for e in _events(h, "referrals.referral.feedback_ready")}
    completed = {e["referral_id"]: e["reason"] for e in _events(h, "referrals.referral.completed")}
    assert feedback == completed == {kept: None, shared: "goals_met"}
