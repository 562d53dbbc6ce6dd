"""The advisers' roster (advisers, migration 0025): an adviser organisation's advisers as their own tokens named them
when they acted or read here. Accept and assign took any login id, so staff could hand a referral to an id nobody
knows, and the referral page read "Adviser: demo-adviser". Now accept and assign name the actor, the adviser who
holds it, or an adviser on the organisation's roster (else 422 on /adviser_id); pages name the adviser; the
referral page offers the roster to those who may allocate. Reading records an adviser at most once a day."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.browser import assert_accessible, live_server, sign_in, submit
from tests.services.referrals.conftest import ADVISERS, OTHER_ADVISERS, nhs_number
from tests.services.referrals.statements import statements
from tests.services.referrals.test_page_forms import page as read_page, post
from worklink.auth import mint_token

SAM = "sam.p"


def bearer(h, role: str, subject: str, org: str = ADVISERS, **claims) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(h.settings.jwt, role=role, org=org, subject=subject, **claims)}


def sam(h, **claims):
    return bearer(h, "adviser", SAM, **{"name": "Sam Patel", **claims})


def lead(h):
    return bearer(h, "org_admin", "lead-1", name="Lee Lead")


def roster(h) -> list[tuple]:
    table = sa.table("advisers", sa.column("org_id"), sa.column("subject"), sa.column("role"), sa.column("name"),
                     sa.column("last_seen_at"))
    with h.ctx.database.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(table).order_by(table.c.org_id, table.c.subject))]


def test_an_adviser_reading_is_on_the_roster_once_a_day_and_staff_who_are_not_advisers_are_not(both):
    h = both
    assert h.client.get("/referrals", headers=sam(h)).status_code == 200
    assert h.client.get("/referrals", headers=lead(h)).status_code == 200  # an org admin: not an adviser
    [(org, subject, role, name, first)] = roster(h)
    assert (org, subject, role, name) == (ADVISERS, SAM, "adviser", "Sam Patel")

    h.clock.advance(hours=23)
    with statements(h) as seen:
        assert h.client.get("/referrals", headers=sam(h)).status_code == 200
    assert not [s for s in seen if "advisers" in s and not s.upper().startswith("SELECT")]  # no write per view
    assert [row[4] for row in roster(h)] == [first]

    h.clock.advance(hours=2)
    assert h.client.get("/referrals", headers=sam(h, name="Sam Patel-Jones")).status_code == 200
    [(_o, _s, _r, renamed, seen_at)] = roster(h)
    assert renamed == "Sam Patel-Jones" and seen_at > first


def test_accept_and_assign_refuse_an_adviser_the_organisation_does_not_know(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    unknown = h.act(rid, "accept", headers=lead(h), adviser_id="nobody-knows")
    assert unknown.status_code == 422 and unknown.mimetype == "application/problem+json"
    assert [e["pointer"] for e in unknown.get_json()["errors"]] == ["/adviser_id"]
    h.signs_in(SAM, org=OTHER_ADVISERS)  # known, but to another organisation
    assert h.act(rid, "accept", headers=lead(h), adviser_id=SAM).status_code == 422
    assert h.client.get(f"/referrals/{rid}", headers=h.adviser()).get_json()["status"] == "submitted"

    h.signs_in(SAM)
    assert h.act(rid, "accept", headers=lead(h), adviser_id=SAM).get_json()["assigned_adviser"] == SAM
    assert h.act(rid, "assign", headers=lead(h), adviser_id="nobody-knows").status_code == 422


def test_an_adviser_naming_themselves_is_always_allowed_and_put_on_the_roster(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    version = h.client.get(f"/referrals/{rid}", headers=lead(h)).get_json()["version"]
    newcomer = bearer(h, "adviser", "new-adviser", name="Nia New")
    taken = h.act(rid, "accept", headers=newcomer, adviser_id="new-adviser", version=version)
    assert taken.status_code == 200 and taken.get_json()["assigned_adviser"] == "new-adviser"
    assert [(row[1], row[3]) for row in roster(h)] == [("new-adviser", "Nia New")]


def test_the_assigned_adviser_is_named_on_the_referral_page_the_queue_and_the_api(harness):
    h = harness
    named, unnamed = (h.refer({"nhs_number": nhs_number(i, 71), "given_name": f"N{i}"}).get_json()["id"]
                      for i in range(2))
    h.signs_in(SAM)
    assert h.client.get("/referrals", headers=sam(h)).status_code == 200  # with her name this time
    assert h.act(named, "accept", headers=lead(h), adviser_id=SAM).status_code == 200
    h.signs_in("adviser-2")  # a token without a name
    assert h.act(unnamed, "accept", headers=lead(h), adviser_id="adviser-2").status_code == 200

    html = read_page(h, f"/queue/{named}", lead(h))
    assert re.search(r'id="adviser">Adviser: Sam Patel \(sam\.p\)<', html)
    assert re.search(r'id="adviser">Adviser: adviser-2<', read_page(h, f"/queue/{unnamed}", lead(h)))
    queue = read_page(h, "/queue?view=all", lead(h))
    assert "Sam Patel (sam.p)" in queue and "adviser-2" in queue
    body = h.client.get(f"/referrals/{named}", headers=lead(h)).get_json()
    assert (body["assigned_adviser"], body["assigned_adviser_name"]) == (SAM, "Sam Patel")
    items = h.client.get("/referrals?view=all", headers=lead(h)).get_json()["items"]
    assert {i["assigned_adviser_name"] for i in items} == {"Sam Patel", None}
    referrer = h.client.get(f"/referrals/{named}", headers=h.gp()).get_json()  # another organisation: no login id
    assert referrer["assigned_adviser"].startswith("Sam Patel at ") and SAM not in str(referrer)


def test_the_referral_page_offers_the_roster_to_those_who_may_assign_and_refuses_an_empty_choice(harness):
    h = harness
    rid = h.refer().get_json()["id"]
    h.signs_in(SAM)
    assert h.client.get("/referrals", headers=sam(h)).status_code == 200
    html = read_page(h, f"/queue/{rid}", lead(h))
    select = re.search(r'<select[^>]*id="accept-adviser_id".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)<', select) == [
        ("", "Choose one"), (SAM, "Sam Patel (sam.p)")]
    assert 'id="accept-adviser_id"' not in read_page(h, f"/queue/{rid}", h.gp())  # the referrer may not assign

    empty = post(h, f"/queue/{rid}/act", {"action": "accept", "version": "1", "adviser_id": ""}, lead(h))
    assert empty.status_code == 422 and "Select an adviser" in empty.get_data(as_text=True)
    unknown = post(h, f"/queue/{rid}/act", {"action": "accept", "version": "1", "adviser_id": "nobody"}, lead(h))
    assert unknown.status_code == 422 and 'id="accept-adviser_id-error"' in unknown.get_data(as_text=True)
    done = post(h, f"/queue/{rid}/act", {"action": "accept", "version": "1", "adviser_id": SAM}, lead(h))
    assert done.status_code == 303 and done.headers["Location"] == f"/queue/{rid}?done=accept_another"
    assert h.client.get(f"/referrals/{rid}", headers=lead(h)).get_json()["assigned_adviser"] == SAM


@pytest.mark.timeout(180)
def test_a_team_lead_assigns_from_the_roster_in_a_browser(harness, page):
    h = harness
    rid = h.refer().get_json()["id"]
    assert h.act(rid, "accept").status_code == 200  # onto the waitlist
    assert h.client.get("/referrals", headers=sam(h)).status_code == 200
    token = mint_token(h.settings.jwt, role="org_admin", org=ADVISERS, subject="lead-1", name="Lee Lead")
    with live_server(h.app) as base:
        sign_in(page, base, token, f"/queue/{rid}")
        assert_accessible(page)
        page.get_by_label("Assign to an adviser").select_option(label="Sam Patel (sam.p)")
        submit(page, page.get_by_role("button", name="Assign", exact=True))
        expect(page.locator("#adviser")).to_have_text("Adviser: Sam Patel (sam.p)")
        expect(page.get_by_role("alert")).to_contain_text("Referral assigned")
        assert_accessible(page)
    assert h.client.get(f"/referrals/{rid}", headers=lead(h)).get_json()["assigned_adviser"] == SAM


def test_the_migration_adds_the_roster_and_takes_it_away(database_url):
    from alembic import command

    from worklink.migrations import alembic_config, upgrade
    from worklink.service import get_service

    migrations = get_service("referrals").migrations_dir
    upgrade(migrations, database_url, "referrals_0024")
    engine = sa.create_engine(database_url)
    try:
        assert "advisers" not in sa.inspect(engine).get_table_names()
        upgrade(migrations, database_url, "referrals_0025")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("advisers")}
        assert columns == {"org_id", "subject", "role", "name", "last_seen_at"}
        table = sa.table("advisers", *(sa.column(name) for name in sorted(columns)))
        row = {"org_id": str(uuid.uuid4()), "subject": SAM, "role": "adviser", "name": None,
               "last_seen_at": datetime(2026, 11, 29, 9, tzinfo=timezone.utc)}
        with engine.begin() as conn:
            conn.execute(table.insert(), row)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # one row per adviser of an organisation
            conn.execute(table.insert(), row)
        command.downgrade(alembic_config(migrations, database_url), "referrals_0024")
        assert "advisers" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_the_migration_puts_the_advisers_the_records_show_on_the_roster(database_url):
    """A team lead can assign to the advisers already at work straight after the upgrade: each note's adviser, named
    as last seen, and an adviser who acted on a referral they hold; not a GP, nor an adviser's act on a referral
    someone else holds now (their organisation is not known from it)."""
    from worklink.migrations import upgrade
    from worklink.service import get_service
    from tests.services.referrals.conftest import referral_row_before, referrals_table_before

    migrations = get_service("referrals").migrations_dir
    upgrade(migrations, database_url, "referrals_0024")
    org, rid, other = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4()
    day = [datetime(2026, 11, d, 9, tzinfo=timezone.utc) for d in range(1, 6)]
    moment, text = sa.DateTime(timezone=True), sa.String()
    notes = sa.table("notes", sa.column("referral_id", sa.Uuid()), sa.column("written_at", moment),
                     *(sa.column(c, text) for c in ("text", "by", "by_org", "by_name", "by_role")))
    steps = sa.table("transitions", sa.column("referral_id", sa.Uuid()), sa.column("occurred_at", moment),
                     sa.column("version", sa.Integer()),
                     *(sa.column(c, text) for c in ("action", "from_status", "to_status", "actor", "actor_role")))
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(referrals_table_before(texts=("assigned_org_id", "assigned_adviser",
                                                       "assigned_adviser_name")).insert(),
                         [referral_row_before(rid, "R-AAAA1111", day[0], assigned_org_id=org, assigned_adviser="kim",
                                              assigned_adviser_name="Kim Lee"),
                          referral_row_before(other, "R-BBBB2222", day[0], assigned_org_id=org,
                                              assigned_adviser="ali", assigned_adviser_name=None)])
            conn.execute(notes.insert(), [
                {"referral_id": rid, "written_at": day[1], "text": "a", "by": SAM, "by_org": org, "by_name": "Sam P",
                 "by_role": "adviser"},
                {"referral_id": rid, "written_at": day[3], "text": "b", "by": SAM, "by_org": org,
                 "by_name": "Sam Patel", "by_role": "adviser"},
                {"referral_id": rid, "written_at": day[4], "text": "c", "by": SAM, "by_org": org, "by_name": None,
                 "by_role": "adviser"},
                {"referral_id": rid, "written_at": day[2], "text": "d", "by": "dr-who", "by_org": "practice",
                 "by_name": "Dr Who", "by_role": "gp"}])
            conn.execute(steps.insert(), [
                {"referral_id": rid, "occurred_at": day[2], "version": 2, "action": "accept", "from_status": "triage",
                 "to_status": "accepted", "actor": "kim", "actor_role": "adviser"},
                {"referral_id": other, "occurred_at": day[2], "version": 2, "action": "accept",
                 "from_status": "triage", "to_status": "accepted", "actor": "jo", "actor_role": "adviser"}])
        upgrade(migrations, database_url, "referrals_0025")
        with engine.connect() as conn:
            roster = conn.execute(sa.text("SELECT org_id, subject, role, name, last_seen_at FROM advisers "
                                          "ORDER BY subject")).all()
        assert [(r.org_id, r.subject, r.role, r.name) for r in roster] == [
            (org, "kim", "adviser", "Kim Lee"), (org, SAM, "adviser", "Sam Patel")]
        assert [str(r.last_seen_at)[:10] for r in roster] == ["2026-11-03", "2026-11-05"]
    finally:
        engine.dispose()


def test_a_team_lead_allocating_over_the_caseload_guidance_is_told_whom_by_name(make_harness):
    """The warning named the adviser by login id ("sam.p now holds ...") in the API, and the page of a team lead
    who gave a referral to an adviser said nothing at all: both name them as the roster does now."""
    from worklink_referrals.config import ReferralSettings

    h = make_harness(referral_settings=ReferralSettings(caseload_limit=1))
    h.add_service()
    ids = [h.refer({"nhs_number": nhs_number(i, 44), "given_name": f"L{i}"}).get_json()["id"] for i in range(3)]
    assert h.client.get("/referrals", headers=sam(h)).status_code == 200  # Sam signs in: on the roster
    first = h.act(ids[0], "accept", headers=lead(h), adviser_id=SAM).get_json()
    assert "caseload_warning" not in first  # one client: within the guidance
    warned = h.act(ids[1], "accept", headers=lead(h), adviser_id=SAM).get_json()["caseload_warning"]
    assert warned.startswith("Sam Patel (sam.p) now holds 2 active clients, more than the 1")

    done = post(h, f"/queue/{ids[2]}/act", {"action": "accept", "version": "1", "adviser_id": SAM}, lead(h))
    assert done.headers["Location"] == f"/queue/{ids[2]}?done=accept_another"
    html = read_page(h, done.headers["Location"], lead(h))
    assert 'id="caseload-warning"' in html and "Sam Patel (sam.p) now holds 3 active clients" in html
    assert 'id="caseload-warning"' not in read_page(h, f"/queue/{ids[2]}", lead(h))  # said once, when it happened
    assert "You hold 3 active clients, more than the 1" in read_page(h, "/queue", sam(h))  # Sam: as his own
