"""Importing a directory: ORUK JSON (file or live feed) and CSV, rejected rows with reasons, idempotency."""

from __future__ import annotations

import copy
import csv
import json
import re
import uuid

import sqlalchemy as sa
from click.testing import CliRunner

from tests.browser import live_server
from tests.services.directory.conftest import GEOCODER, build_directory, make_app
from tests.services.directory.test_read_api import assert_valid
from worklink.config import Settings
from worklink_directory import demo
from worklink_directory.cli import main as directory_cli
from worklink_directory.importer import import_records, read_source
from worklink_directory.models import Service
from worklink_directory.seed import load_demo_data


def outbox_count(app) -> int:
    ctx = app.extensions["worklink"]
    with ctx.database.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(ctx.tables.outbox)).scalar_one()


def run_import(app, records):
    ctx = app.extensions["worklink"]
    return import_records(ctx.database, ctx.outbox, records, GEOCODER)


def good_records(count: int = 3) -> list[dict]:
    return [copy.deepcopy(r) for r, _ in zip(demo.demo_records(), range(count))]


def test_feed_with_bad_records_loads_the_good_ones_and_explains_the_rest(app, tmp_path):
    records = good_records(3)
    bad_id = {**copy.deepcopy(records[0]), "id": "not-a-uuid"}
    no_name = copy.deepcopy(records[1])
    no_name["id"] = str(uuid.uuid4())
    del no_name["name"]
    bad_status = {**copy.deepcopy(records[2]), "id": str(uuid.uuid4()), "status": "open-ish"}
    bad_ages = {**copy.deepcopy(records[2]), "id": str(uuid.uuid4()), "minimum_age": 40, "maximum_age": 20}
    bad_postcode = copy.deepcopy(records[2])
    bad_postcode["id"] = str(uuid.uuid4())
    bad_postcode["service_at_locations"][0]["location"]["addresses"][0]["postal_code"] = "NOWHERE"
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps({"total_items": 8, "contents": [*records, bad_id, no_name, bad_status, bad_ages,
                                                                bad_postcode, "just a string"]}))
    report = run_import(app, read_source(str(feed)))
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    reasons = dict(report.rejected)
    assert len(reasons) == 6
    assert any("/id: 'not-a-uuid' is not a 'uuid'" in r for r in reasons["not-a-uuid"])
    assert reasons[no_name["id"]] == ["/: 'name' is a required property"]
    assert any(r.startswith("/status:") for r in reasons[bad_status["id"]])
    assert any(r.startswith("/maximum_age:") for r in reasons[bad_ages["id"]])
    assert reasons[bad_postcode["id"]] == ["/locations/0/postal_code: Not a UK postcode (e.g. TA1 1AA)."]
    assert reasons["row 9"] == ["/: a record must be a JSON object"]
    client = app.test_client()
    assert client.get("/services").get_json()["total_items"] == 3
    assert client.get(f"/services/{records[0]['id']}").get_json()["name"] == records[0]["name"]


def test_reimporting_is_idempotent_and_a_change_is_an_update(app):
    records = good_records(5)
    assert run_import(app, records).created == 5
    events = outbox_count(app)
    again = run_import(app, copy.deepcopy(records))
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 5, [])
    assert outbox_count(app) == events  # nothing changed, nothing published
    changed = copy.deepcopy(records)
    changed[1]["description"] = "A new description."
    third = run_import(app, changed)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 4)
    assert outbox_count(app) == events + 1
    assert app.test_client().get(f"/services/{records[1]['id']}").get_json()["description"] == "A new description."


def test_csv_import_with_bad_rows(app, tmp_path):
    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    org = str(uuid.uuid4())
    rows = [
        {"id": str(uuid.uuid4()), "organization_id": org, "organization_name": "Frome Advice", "name": "Frome debt clinic",
         "description": "Debt help.", "categories": "debt;benefits", "address_1": "1 Market Place", "city": "Frome",
         "postal_code": "TA1 1AA", "phone": "01632 960123", "days": "MO;TH", "opens_at": "09:00", "closes_at": "12:00",
         "delivery_modes": "in_person;telephone", "minimum_age": "18"},
        {"id": str(uuid.uuid4()), "organization_id": org, "organization_name": "Frome Advice", "name": "Mystery",
         "categories": "astrology"},
        {"id": str(uuid.uuid4()), "organization_id": org, "organization_name": "Frome Advice", "name": "Bad hours",
         "days": "MO", "opens_at": "18:00", "closes_at": "09:00"},
        {"id": "", "organization_id": org, "name": "No id"},
        {"id": str(uuid.uuid4()), "organization_id": org, "name": "Bad age", "minimum_age": "ten"},
    ]
    path = tmp_path / "directory.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=sorted({k for row in rows for k in row}))
        writer.writeheader()
        writer.writerows(rows)
    report = run_import(app, read_source(str(path)))
    assert report.created == 1 and len(report.rejected) == 4
    reasons = dict(report.rejected)  # by spreadsheet row (the header is row 1), and id when the row has one
    assert reasons[f"row 3 (id {rows[1]['id']})"] == ["/categories: unknown category code 'astrology'"]
    assert any("closes_at" in r for r in reasons[f"row 4 (id {rows[2]['id']})"])
    assert any("'id' is a required property" in r for r in reasons["row 5"])
    assert any(r.startswith("/minimum_age:") for r in reasons[f"row 6 (id {rows[4]['id']})"])
    body = app.test_client().get(f"/services/{rows[0]['id']}").get_json()
    assert [s["byday"] for s in body["schedules"]] == ["MO", "TH"]
    assert {a["taxonomy_term"]["code"] for a in body["attributes"]} == {"debt", "benefits"}
    assert body["service_at_locations"][0]["location"]["latitude"] == 51.0146  # geocoded from the postcode


def test_a_rejected_csv_row_is_named_by_the_row_a_spreadsheet_shows_it_on(tmp_path, monkeypatch):
    """The report named a rejected CSV row by its id - no help when the id is the mistake, or missing - or by its
    place among the records, which a blank row or a cell over two lines put off from the spreadsheet's row."""
    url = f"sqlite:///{tmp_path / 'csv.db'}"
    app = make_app(url, tmp_path)
    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    org, good = str(uuid.uuid4()), str(uuid.uuid4())
    path = tmp_path / "directory.csv"
    path.write_text(
        "id,organization_id,organization_name,name,description\n"               # row 1: the header
        f'{good},{org},Frome Advice,Debt clinic,"Debt help,\nover two lines."\n'  # row 2, one cell on two lines
        "\n"                                                                      # row 3, blank
        f"not-a-uuid,{org},Frome Advice,Typo,Help.\n"                            # row 4
        f",{org},Frome Advice,No id,Help.\n", encoding="utf-8")                  # row 5
    monkeypatch.setenv("DIRECTORY_DATABASE_URL", url)
    result = CliRunner().invoke(directory_cli, ["import", str(path)])
    assert result.exit_code == 2, result.output
    assert "3 records: 1 created, 0 updated, 0 unchanged, 2 rejected" in result.output
    assert "rejected row 4 (id not-a-uuid):\n  /id: 'not-a-uuid' is not a 'uuid'" in result.output
    assert re.search(r"rejected row 5:\n  /: 'id' is a required property", result.output), result.output
    assert app.test_client().get(f"/services/{good}").get_json()["description"] == "Debt help,\nover two lines."


def test_import_from_a_live_oruk_feed(app, tmp_path):
    source = make_app(f"sqlite:///{tmp_path / 'source.db'}", tmp_path)
    known = build_directory(source)
    with live_server(source) as base:
        records = read_source(base)
    assert len(records) == 6
    report = run_import(app, records)
    assert report.created == 6, report.rejected
    client = app.test_client()
    original = source.test_client().get(f"/services/{known.ids['counselling']}").get_json()
    copied = client.get(f"/services/{known.ids['counselling']}").get_json()
    without_ids = lambda items: [{k: v for k, v in i.items() if k != "id"} for i in items]  # noqa: E731
    assert copied["name"] == original["name"]
    assert without_ids(copied["schedules"]) == without_ids(original["schedules"])
    # the confidential location's address never left the source, so the copy has none either
    refuge = client.get(f"/services/{known.ids['refuge']}").get_json()
    assert "addresses" not in refuge["service_at_locations"][0]["location"]


def test_cli_import_prints_a_summary_and_the_rejected_rows(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    make_app(url, tmp_path)  # migrated
    monkeypatch.setenv("DIRECTORY_DATABASE_URL", url)
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps([*good_records(2), {"id": "x", "name": "Broken", "status": "active"}]))
    result = CliRunner().invoke(directory_cli, ["import", str(feed)])
    assert result.exit_code == 2, result.output
    assert "3 records: 2 created, 0 updated, 0 unchanged, 1 rejected" in result.output
    assert "rejected x:" in result.output and "/id: 'x' is not a 'uuid'" in result.output
    missing = CliRunner().invoke(directory_cli, ["import", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "Cannot read" in missing.output


def test_demo_directory_is_a_few_hundred_marked_services_and_seeds_idempotently(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    app = make_app(url, tmp_path)
    settings = Settings.from_env("directory", {"DIRECTORY_DATABASE_URL": url, "WORKLINK_VAR": str(tmp_path)})
    first = load_demo_data(settings)
    assert "invented" in first and "0 rejected" in first
    # how to sign in as partner staff of the demo organisation with the most listings (no other way to find it)
    staff = re.search(r"`worklink token --role org_admin --org ([0-9a-f-]{36}) --org-name ", first).group(1)
    with app.extensions["worklink"].database.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Service)
                              .where(Service.organization_id == uuid.UUID(staff))) >= 20
    assert "0 created, 0 updated" in load_demo_data(settings)
    with app.extensions["worklink"].database.sessions() as session:
        total = session.scalar(sa.select(sa.func.count()).select_from(Service))
        demo_rows = session.scalar(sa.select(sa.func.count()).select_from(Service).where(Service.is_demo.is_(True)))
    assert total == demo_rows == 328  # 233 listings of the patterns most towns have, 95 specialist ones
    client = app.test_client()
    towns = {item["name"].rsplit(", ", 1)[-1] for item in
             client.get("/services?per_page=100&search=debt").get_json()["contents"]}
    assert len(towns) >= 10
    # Every term of the demo taxonomy has listings, the specialist ones' too (ADHD and autism, menopause, alcohol
    # and drugs, housing), and they answer in ORUK's shape as the rest do.
    specialist = {"neurodiversity": 12, "menopause": 10, "substance-misuse": 17, "housing": 32}
    for code, *_ in demo.TERMS:
        listed = client.get("/services", query_string={"taxonomy_term_id": demo.term_id(code)}).get_json()
        assert listed["total_items"] == specialist[code] if code in specialist else listed["total_items"], code
    for index, (pattern, *_rest, towns_named, _county) in enumerate(demo.SPECIALIST_SERVICES):
        town = (towns_named or list(demo.TOWNS))[0]
        listing = client.get(f"/services/{demo.service_id(town, demo.SPECIALIST_FIRST + index)}").get_json()
        assert listing["name"] == pattern.format(town=town)
        assert_valid("service", listing)


def test_worklink_directory_import_runs_through_the_platform_cli(tmp_path):
    """`worklink directory import` (the issue's command) reaches the directory's own importer."""
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    make_app(url, tmp_path)  # migrated
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps(good_records(2)))
    worklink = os.path.join(os.path.dirname(sys.executable), "worklink")
    result = subprocess.run([worklink, "directory", "import", str(feed)], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "DIRECTORY_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 records: 2 created" in result.stdout


def test_a_withdrawn_record_withdraws_the_listing_and_is_never_loaded_as_active(app):
    records = good_records(2)
    assert run_import(app, records).created == 2
    events = outbox_count(app)
    withdrawn = {**copy.deepcopy(records[0]), "status": "defunct"}
    never_held = {**copy.deepcopy(records[1]), "id": str(uuid.uuid4()), "status": "defunct"}
    report = run_import(app, [withdrawn, copy.deepcopy(records[1]), never_held])
    assert (report.created, report.updated, report.unchanged, report.rejected) == (0, 1, 2, [])
    client = app.test_client()
    assert client.get(f"/services/{records[0]['id']}").get_json()["status"] == "defunct"
    assert client.get(f"/services/{never_held['id']}").status_code == 404
    assert [s["id"] for s in client.get("/services").get_json()["contents"]] == [records[1]["id"]]
    ctx = app.extensions["worklink"]
    with ctx.database.engine.connect() as conn:
        last = conn.execute(sa.select(ctx.tables.outbox.c.type, ctx.tables.outbox.c.aggregateid)
                            .order_by(ctx.tables.outbox.c.position.desc()).limit(1)).one()
    assert outbox_count(app) == events + 1 and tuple(last) == ("directory.service.withdrawn", records[0]["id"])
    again = run_import(app, [withdrawn, never_held])
    assert (again.updated, again.unchanged) == (0, 2) and outbox_count(app) == events + 1


def test_an_inactive_record_is_published_as_not_offered(app):
    (record,) = good_records(1)
    record["status"] = "inactive"
    assert run_import(app, [record]).created == 1
    ctx = app.extensions["worklink"]
    with ctx.database.engine.connect() as conn:
        rows = conn.execute(sa.select(ctx.tables.outbox.c.type, ctx.tables.outbox.c.payload)
                            .order_by(ctx.tables.outbox.c.position)).all()
    assert [(kind, json.loads(payload)["data"].get("reason")) for kind, payload in rows] == [
        ("directory.service.published", None), ("directory.service.withdrawn", "inactive")]
    assert app.test_client().get("/services").get_json()["total_items"] == 0


def test_a_bad_assured_date_is_a_rejected_row_and_the_batch_still_loads(app):
    first, second = good_records(2)
    bad = []
    for value in ("2024-13-45", "2024-02-30", "31/01/2024", "yesterday"):
        record = copy.deepcopy(first)
        record["id"], record["assured_date"] = str(uuid.uuid4()), value
        bad.append(record)
    dated = {**copy.deepcopy(second), "assured_date": "2024-01-31T10:00:00Z"}
    report = run_import(app, [first, *bad, dated])
    assert (report.created, report.updated) == (2, 0)
    reasons = dict(report.rejected)
    assert {ref: reasons[ref] for ref in reasons} == {
        r["id"]: [f"/assured_date: {r['assured_date']!r} is not a date (YYYY-MM-DD)"] for r in bad}
    with app.extensions["worklink"].database.sessions() as session:
        assert str(session.get(Service, uuid.UUID(dated["id"])).assured_date) == "2024-01-31"
        assert session.scalar(sa.select(sa.func.count()).select_from(Service)) == 2


def test_a_record_failing_in_a_way_nobody_foresaw_is_rejected_not_the_batch(app, monkeypatch):
    from worklink_directory import importer, services
    records = good_records(3)
    create = services.create_service

    def create_or_fail(session, outbox, data, *args, **kwargs):
        svc = create(session, outbox, data, *args, **kwargs)
        if str(data["id"]) == records[1]["id"]:  # after writing: its savepoint must undo it all
            raise KeyError("something unforeseen")
        return svc

    monkeypatch.setattr(importer.services, "create_service", create_or_fail)
    report = run_import(app, records)
    assert report.created == 2
    assert report.rejected == [(records[1]["id"], ["/: could not be loaded (KeyError); the rest of the import went ahead"])]
    with app.extensions["worklink"].database.sessions() as session:
        assert session.get(Service, uuid.UUID(records[1]["id"])) is None  # its savepoint rolled back
    assert outbox_count(app) == 2  # and its event with it
