"""The audit trail names a patient by the keyed reference of their NHS number (HMAC-SHA256 under
ADJUSTMENTS_PERSON_KEY), never by the number: it is kept longer than the records and read by admins. Subject
access and the audit review still find the person's accesses by NHS number; migration adjustments_0014
rewrites the rows written before (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
import sqlalchemy as sa
from alembic import command

from tests.people_rights import post_form as post
from tests.services.adjustments.conftest import (OTHER_PRACTICE, VALID_NHS, Tokens, build_app, make_settings,
                                                 suggestion_body)
from tests.services.adjustments.test_employer_api_and_rounds import ANSWER, letter_token
from tests.services.adjustments.test_retention import OTHER_NHS, create, issue
from worklink.config import ConfigError
from worklink.migrations import alembic_config, upgrade
from worklink.service import get_service
from worklink_adjustments.config import DEVELOPMENT_PERSON_KEY, PERSON_KEY_VARIABLE, person_key
from worklink_adjustments.models import PLATFORM

SPACED = "943 476 5919"
AUDIT = PLATFORM.audit_log


def reference(app, nhs_number: str = VALID_NHS) -> str:
    """Made here from its definition, not by the code under test."""
    return hmac.new(app.config["PERSON_KEY"].encode(), nhs_number.encode(), hashlib.sha256).hexdigest()


def admin(tokens) -> dict:
    return tokens.header(role="alliance_admin", org=None, subject="dpo-1")


def audit_log(app) -> list[dict]:
    with app.extensions["worklink"].database.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(AUDIT).order_by(AUDIT.c.id)).mappings()]


def everything_audited(client, tokens) -> str:
    """Sam's advice through every step that audits it: written, changed, issued with a referral, read, listed,
    searched, printed, read and answered by the employer, referral consent withdrawn, subject access, the
    rights pages' summary and erasure confirmation, and an admin's review of Sam's accesses."""
    sid = create(client, tokens, **{"consent.refer_to_employment_adviser": True})["id"]
    h = tokens.header()
    assert client.put(f"/suggestions/{sid}", json={**suggestion_body(**{"consent.refer_to_employment_adviser": True}),
                                                    "version": 1}, headers=h).status_code == 200
    assert client.post(f"/suggestions/{sid}/issue", json={"version": 2}, headers=h).status_code == 200
    assert client.get(f"/suggestions/{sid}", headers=h).status_code == 200
    assert client.get("/suggestions", headers=h).status_code == 200
    assert client.post("/suggestions/search", json={"nhs_number": VALID_NHS}, headers=h).status_code == 200
    assert client.get(f"/suggestions/{sid}/letter", headers=h).status_code == 200
    token = letter_token(client, tokens, sid)
    assert client.get(f"/employer-links/{token}").status_code == 200
    assert client.post(f"/employer-links/{token}/response", json=ANSWER).status_code == 201
    version = client.get(f"/suggestions/{sid}", headers=h).get_json()["version"]
    assert client.post(f"/suggestions/{sid}/referral-consent-withdrawal", json={"version": version},
                       headers=h).status_code == 200
    assert client.post("/people/subject-access", json={"nhs_number": VALID_NHS}, headers=admin(tokens)).status_code == 200
    assert post(client, "/people", {"nhs_number": SPACED}, admin(tokens)).status_code == 200
    assert post(client, "/people/erase", {"nhs_number": VALID_NHS, "step": "reason", "reason": "objection"},
                admin(tokens)).status_code == 200
    assert client.get("/audit/entries", query_string={"person": SPACED}, headers=admin(tokens)).status_code == 200
    return sid


def test_no_audit_entry_holds_the_nhs_number_and_each_names_the_patients_reference(svc):
    app, client, tokens = svc
    sid = everything_audited(client, tokens)
    rows = audit_log(app)
    assert {r["action"] for r in rows} >= {"create", "update", "read", "list", "export", "share"}
    for r in rows:
        text = " ".join(str(v) for v in r.values())
        assert VALID_NHS not in text and SPACED not in text, r
    about_sam = [r for r in rows if r["resource_id"] == sid]
    assert len(about_sam) > 10 and {r["person_id"] for r in about_sam} == {reference(app)}
    [review] = [r for r in rows if r["resource_type"] == "audit_log"]
    assert (review["resource_id"], review["person_id"]) == (reference(app), reference(app))


def test_the_reference_is_keyed_by_the_service_key(tmp_path):
    apps = [build_app(make_settings(tmp_path / name)) for name in ("one", "two")]
    apps[1].config["PERSON_KEY"] = "another-key-" * 3
    for app in apps:
        create(app.test_client(), Tokens(app.extensions["worklink"].settings))
    [ours], [theirs] = ({r["person_id"] for r in audit_log(app)} for app in apps)
    assert ours == reference(apps[0]) and theirs == reference(apps[1]) != ours  # same number, another key
    for app in apps:
        app.extensions["worklink"].database.dispose()


def test_subject_access_and_the_audit_review_find_the_persons_accesses_by_nhs_number(svc):
    app, client, tokens = svc
    first = issue(client, tokens)["id"]
    assert client.get(f"/suggestions/{first}", headers=tokens.header()).status_code == 200
    second = create(client, tokens, headers=tokens.header(org=OTHER_PRACTICE, subject="dr-bo"))["id"]
    someone_else = create(client, tokens, **{"patient.nhs_number": OTHER_NHS})["id"]

    export = client.post("/people/subject-access", json={"nhs_number": VALID_NHS}, headers=admin(tokens)).get_json()
    assert [s["id"] for s in export["suggestions"]] == [first, second]
    assert [a["action"] for a in export["suggestions"][0]["accessed"]] == ["create", "update", "read", "export"]

    sams = {r["id"] for r in audit_log(app) if r["person_id"] == reference(app)}
    for typed in (VALID_NHS, SPACED, "943-476-5919", reference(app)):  # as the review page links it, too
        found = client.get("/audit/entries", query_string={"person": typed, "limit": 500}, headers=admin(tokens))
        assert found.status_code == 200, found.get_json()
        items = found.get_json()["items"]
        assert {i["resource_id"] for i in items if i["resource_type"] != "audit_log"} == {first, second}
        # every access to Sam's suggestions, nobody else's
        assert len([i for i in items if i["resource_type"] != "audit_log"]) == len(sams), typed
        assert someone_else not in {i["resource_id"] for i in items}
    html = {**admin(tokens), "Accept": "text/html"}
    typed = client.get("/audit", query_string={"person": SPACED}, headers=html)  # a typed URL, an old bookmark
    assert typed.status_code == 303 and typed.location == f"/audit?person={reference(app)}"
    page = client.get(typed.location, headers=html)
    assert page.status_code == 200 and first in page.get_data(as_text=True)
    shown = page.get_data(as_text=True)  # nor in the pages' links: not "943" alone, which a random id may hold
    assert not [form for form in (VALID_NHS, SPACED, "943-476-5919", "943+476+5919", "943%20476") if form in shown]


def test_the_audit_pages_form_is_posted_so_no_nhs_number_reaches_a_url(svc):
    app, client, tokens = svc
    issue(client, tokens)
    posted = post(client, "/audit", {"person": SPACED, "action": "create"}, admin(tokens))
    assert posted.status_code == 303
    assert posted.location == f"/audit?action=create&person={reference(app)}"
    assert post(client, "/audit", {"person": " ", "record": ""}, admin(tokens)).location == "/audit"
    refused = post(client, "/audit", {"person": SPACED}, tokens.header())  # a GP reviews nobody's accesses
    assert refused.status_code == 403 and refused.location is None


def test_an_nhs_number_typed_as_the_record_is_refused_not_kept_in_the_trail(svc):
    """Only `person` turns a number into its reference: one typed into `record` (a suggestion's id) matched
    nothing and was kept as typed, in clear, as the resource id of the review's own entry (and, from the page's
    form, in the address it redirected to)."""
    app, client, tokens = svc
    issue(client, tokens)
    for typed in (VALID_NHS, SPACED, "943-476-5919"):
        asked = client.get("/audit/entries", query_string={"record": typed}, headers=admin(tokens))
        assert asked.status_code == 422 and [e["pointer"] for e in asked.get_json()["errors"]] == ["/record"]
        searched = client.post("/audit/entries/search", json={"record": typed}, headers=admin(tokens))
        assert searched.status_code == 422 and [e["pointer"] for e in searched.get_json()["errors"]] == ["/record"]
    posted = post(client, "/audit", {"record": SPACED}, admin(tokens))
    assert posted.status_code == 400 and posted.location is None
    assert 'href="#record">Enter the record' in posted.get_data(as_text=True)
    kept = {value for row in audit_log(app) for value in (row["resource_id"], row["person_id"])}
    assert not {VALID_NHS, SPACED, "943-476-5919"} & kept


def test_production_needs_its_own_person_key():
    for env in ({}, {PERSON_KEY_VARIABLE: "short"}, {PERSON_KEY_VARIABLE: DEVELOPMENT_PERSON_KEY}):
        with pytest.raises(ConfigError, match=PERSON_KEY_VARIABLE):
            person_key({"WORKLINK_ENV": "production", **env})
    assert person_key({"WORKLINK_ENV": "production", PERSON_KEY_VARIABLE: "k" * 32}) == "k" * 32
    assert person_key({}) == DEVELOPMENT_PERSON_KEY


# --- migration adjustments_0014 -------------------------------------------------------------------------


def _as_before(app) -> None:
    """The rows as the code before 0014 wrote them: the NHS number as person_id, and reviews naming what the
    reviewer typed (with spaces, or a number held by nobody)."""
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(AUDIT.update().where(AUDIT.c.person_id == reference(app)).values(person_id=VALID_NHS))
        for typed in (SPACED, "4010232137"):
            session.execute(AUDIT.insert().values(occurred_at=sa.func.now(), actor="dpo-1", actor_role="alliance_admin",
                                                  action="list", resource_type="audit_log", resource_id=typed,
                                                  person_id=typed, purpose="audit review"))


def test_the_migration_renames_old_rows_by_reference_and_its_downgrade_puts_back_what_it_can(svc, caplog):
    app, client, tokens = svc
    sid = issue(client, tokens)["id"]
    erased = create(client, tokens, **{"patient.nhs_number": OTHER_NHS})["id"]
    assert client.post("/people/erasure", json={"nhs_number": OTHER_NHS, "reason": "objection"},
                       headers=admin(tokens)).status_code == 200
    url = app.extensions["worklink"].settings.database_url
    migrations = get_service("adjustments").migrations_dir
    command.downgrade(alembic_config(migrations, url), "adjustments_0013")
    _as_before(app)
    numbers = {r["person_id"] for r in audit_log(app)}
    assert {VALID_NHS, SPACED, "4010232137", erased} <= numbers

    upgrade(migrations, url)
    rows = audit_log(app)
    assert not [r for r in rows if any(n in " ".join(str(v) for v in r.values())
                                       for n in (VALID_NHS, SPACED, "4010232137"))]
    assert {r["person_id"] for r in rows if r["resource_id"] == sid} == {reference(app)}
    reviews = {(r["resource_id"], r["person_id"]) for r in rows if r["resource_type"] == "audit_log"}
    assert reviews == {(reference(app), reference(app)), (reference(app, "4010232137"),) * 2}
    assert {r["person_id"] for r in rows if r["resource_id"] == erased} == {erased}  # erased: untouched
    found = client.get("/audit/entries", query_string={"person": VALID_NHS}, headers=admin(tokens)).get_json()
    assert sid in {i["resource_id"] for i in found["items"]}  # the review finds the old rows again

    # Back down: a patient still held gets their number back; a reference of a number held by nobody cannot.
    with caplog.at_level(logging.WARNING):
        command.downgrade(alembic_config(migrations, url), "adjustments_0013")
    rows = audit_log(app)
    assert {r["person_id"] for r in rows if r["resource_id"] == sid} == {VALID_NHS}
    assert (reference(app, "4010232137"),) * 2 in {(r["resource_id"], r["person_id"]) for r in rows}
    assert "1 audit entries keep a person reference" in caplog.text
    upgrade(migrations, url)


def test_a_downgrade_while_a_rotated_key_is_not_yet_re_keyed_puts_back_numbers_under_the_previous_key(svc, monkeypatch):
    """After a rotation and before the sweep's next pass, a patient's entries still name them under the previous
    key. The downgrade matched the current key only: they kept a reference the code before 0014 cannot find, and
    the warning said it matched no NHS number still held."""
    app, client, tokens = svc
    sid = issue(client, tokens)["id"]
    url = app.extensions["worklink"].settings.database_url
    monkeypatch.setenv(PERSON_KEY_VARIABLE, "the-key-after-the-rotation-" * 2)
    monkeypatch.setenv(f"{PERSON_KEY_VARIABLE}_PREVIOUS", app.config["PERSON_KEY"])
    command.downgrade(alembic_config(get_service("adjustments").migrations_dir, url), "adjustments_0013")
    assert {r["person_id"] for r in audit_log(app) if r["resource_id"] == sid} == {VALID_NHS}
    upgrade(get_service("adjustments").migrations_dir, url)  # back up: named under the current key


def test_an_admin_finds_a_patients_accesses_on_the_audit_page_by_nhs_number_in_a_browser(app, client, tokens, page):
    """The references (64 hex digits, no place to break) wrap: the page does not widen past a laptop's screen."""
    from tests.browser import assert_accessible, live_server, sign_in, submit

    sid = issue(client, tokens)["id"]
    page.set_viewport_size({"width": 1024, "height": 800})
    with live_server(app) as base:
        sign_in(page, base, tokens.raw(role="alliance_admin", org=None, subject="dpo-1"))
        page.goto(f"{base}/audit")
        page.get_by_label("Person's record id").fill(SPACED)
        submit(page, page.get_by_role("button", name="Show"))
        assert page.get_by_role("heading", level=2, name="2 entries").is_visible()  # create and issue
        assert page.url == f"{base}/audit?person={reference(app)}"  # the number itself is in no URL
        assert page.get_by_role("link", name=reference(app)).count() == 2
        assert sid in page.inner_text("main")
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert_accessible(page)


def test_the_api_searches_by_nhs_number_in_a_body_and_deprecates_it_in_the_query_string(svc):
    app, client, tokens = svc
    sid = issue(client, tokens)["id"]
    by_reference = client.get("/audit/entries", query_string={"person": reference(app)}, headers=admin(tokens))
    assert by_reference.status_code == 200 and "Deprecation" not in by_reference.headers
    searched = client.post("/audit/entries/search", json={"person": SPACED, "action": "create"}, headers=admin(tokens))
    assert searched.status_code == 200
    assert [(i["action"], i["resource_id"], i["person_id"]) for i in searched.get_json()["items"]] == [
        ("create", sid, reference(app))]
    by_number = client.get("/audit/entries", query_string={"person": VALID_NHS}, headers=admin(tokens))
    assert by_number.status_code == 200 and by_number.headers["Deprecation"].startswith("@")
    assert by_number.headers["Link"] == '</audit/entries/search>; rel="successor-version"'
    unknown = client.post("/audit/entries/search", json={"nhs_number": VALID_NHS}, headers=admin(tokens))
    assert unknown.status_code == 422 and unknown.content_type == "application/problem+json"
    assert client.post("/audit/entries/search", json={"person": SPACED}, headers=tokens.header()).status_code == 403


def test_the_sweep_converts_nhs_numbers_an_older_replica_wrote_after_the_migration(svc):
    """A rolling deploy: after 0014 an older replica still running writes the NHS number as person_id (and as the
    review's resource_id). The sweep's re-key pass names them by reference, with no retired key set too."""
    from tests.services.adjustments.test_retention import outbox
    from worklink_adjustments import sweep

    app, client, tokens = svc
    sid = issue(client, tokens)["id"]
    _as_before(app)  # the rows as such a replica writes them
    database = app.extensions["worklink"].database
    done = sweep.run_once(database, outbox(app), key=app.config["PERSON_KEY"], previous_keys=())
    rows = audit_log(app)
    assert done["audit_references_rekeyed"] == len([r for r in rows if r["resource_id"] == sid]) + 2 * 2
    assert not [r for r in rows if any(n in " ".join(str(v) for v in r.values())
                                       for n in (VALID_NHS, SPACED, "4010232137"))]
    assert {r["person_id"] for r in rows if r["resource_id"] == sid} == {reference(app)}
    reviews = {(r["resource_id"], r["person_id"]) for r in rows if r["resource_type"] == "audit_log"}
    assert reviews == {(reference(app), reference(app)), (reference(app, "4010232137"),) * 2}
    found = client.get("/audit/entries", query_string={"person": VALID_NHS}, headers=admin(tokens)).get_json()
    assert sid in {i["resource_id"] for i in found["items"]}  # the review finds them again
    assert sweep.run_once(database, outbox(app), key=app.config["PERSON_KEY"],
                          previous_keys=())["audit_references_rekeyed"] == 0


def test_the_sweep_looks_for_such_leftovers_in_the_last_week_only_and_the_whole_trail_on_request(svc):
    """The hourly sweep reads the entries of the last LEFTOVER_WINDOW by their indexed time, not the whole trail;
    a number in clear in an older entry waits for a whole-trail pass (the rekey-audit command's)."""
    from datetime import timedelta

    from tests.services.adjustments.test_retention import outbox
    from worklink.db import utcnow
    from worklink_adjustments import sweep
    from worklink_adjustments.rekeying import LEFTOVER_WINDOW, rekey_audit

    app, client, tokens = svc
    issue(client, tokens)
    database = app.extensions["worklink"].database
    with database.transaction() as session:  # entries written before the window, naming the number in clear
        written = session.execute(sa.select(AUDIT).where(AUDIT.c.person_id == reference(app))).mappings().all()
        session.execute(AUDIT.insert(), [
            {**{k: v for k, v in row.items() if k != "id"}, "person_id": VALID_NHS,
             "occurred_at": utcnow() - LEFTOVER_WINDOW - timedelta(hours=1)} for row in written])
    key = app.config["PERSON_KEY"]
    assert sweep.run_once(database, outbox(app), key=key, previous_keys=())["audit_references_rekeyed"] == 0
    assert VALID_NHS in {r["person_id"] for r in audit_log(app)}
    assert rekey_audit(database, key, ()) > 0
    assert VALID_NHS not in {r["person_id"] for r in audit_log(app)}
