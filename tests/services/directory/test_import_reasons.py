"""A rejected record's reasons name each field it fails, one line each, as the write API points at them: a nested
list's mistakes were printed as marshmallow's dict ("/contacts: {0: {'phones': {0: {'number': [...]}}}}")."""

from __future__ import annotations

import csv

from tests.services.directory.test_import import run_import
from worklink_directory import demo
from worklink_directory.importer import read_source

ORG = "7d1e0d1e-0000-4000-8000-0000000000aa"


def test_each_mistake_of_a_csv_row_is_a_line_naming_its_field(app, tmp_path):
    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    row = {"id": "7d1e0d1e-0000-4000-8000-000000000002", "organization_id": ORG, "organization_name": "Test Org",
           "name": "Bad row", "url": "javascript:alert(1)", "categories": "debt", "address_1": "1 High St",
           "city": "Taunton", "postal_code": "XX1", "phone": "call me", "days": "MO;TU", "opens_at": "25:00",
           "closes_at": "17:00", "delivery_modes": "in_person;teleport"}
    path = tmp_path / "directory.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    report = run_import(app, read_source(str(path)))
    assert report.rejected == [(f"row 2 (id {row['id']})", [
        "/contacts/0/phones/0/number: Not a phone number: 6 to 20 digits, spaces, +, ( ) or - (e.g. 01632 960 001).",
        "/delivery_modes/1: Must be one of: in_person, online, telephone.",
        "/locations/0/postal_code: Not a UK postcode (e.g. TA1 1AA).",
        "/schedules/0/opens_at: Use a 24-hour time, HH:MM.",
        "/schedules/1/opens_at: Use a 24-hour time, HH:MM.",
        "/url: Not a valid URL.",
    ])]


def test_the_write_api_says_what_a_phone_number_may_hold(app, directory):
    from tests.services.directory.conftest import ORG_A, token_for

    response = app.test_client().patch(f"/manage/services/{directory.ids['debt']}", headers=token_for(
        app, "org_admin", ORG_A), json={"contacts": [{"name": "Desk", "phones": [{"number": "call me"}]}]})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{
        "location": "json", "pointer": "/contacts/0/phones/0/number",
        "detail": "Not a phone number: 6 to 20 digits, spaces, +, ( ) or - (e.g. 01632 960 001)."}]
