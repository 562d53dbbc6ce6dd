"""An imported feed changes or withdraws only its own organisation's listings: a record naming another
organisation's listing by id is rejected with its reason, and that listing is left exactly as it was."""

from __future__ import annotations

import copy
import uuid

from tests.services.directory.conftest import GEOCODER, ORG_B, build_directory, make_app
from tests.services.directory.test_partner_pages import outbox
from worklink_directory.importer import import_records


def test_a_feed_cannot_rewrite_or_withdraw_another_organisations_listing(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    counselling = build_directory(app).ids["counselling"]  # organisation A's
    ctx, client = app.extensions["worklink"], app.test_client()
    before = client.get(f"/services/{counselling}").get_json()
    events = len(outbox(app))

    # organisation B's feed: A's listing's id, under B, with B's words and a location of its own
    record = copy.deepcopy(before)
    record.update(organization_id=str(ORG_B), name="Taken over",
                  organization={"id": str(ORG_B), "name": "Safe Homes Somerset", "description": "Safe Homes Somerset"})
    for sal in record["service_at_locations"]:
        sal["location"]["id"] = str(uuid.uuid4())
    for status in ("active", "defunct"):
        report = import_records(ctx.database, ctx.outbox, [{**copy.deepcopy(record), "status": status}], GEOCODER)
        assert (report.created, report.updated, report.unchanged) == (0, 0, 0), status
        ((ref, reasons),) = report.rejected
        assert ref == counselling and reasons[0].startswith("/organization/id: ") and "another organisation" in reasons[0]

    assert client.get(f"/services/{counselling}").get_json() == before
    assert len(outbox(app)) == events

    # the owner's own feed still changes it
    own = {**copy.deepcopy(before), "name": "Taunton counselling and talking therapies"}
    assert import_records(ctx.database, ctx.outbox, [own], GEOCODER).updated == 1
    assert client.get(f"/services/{counselling}").get_json()["name"] == "Taunton counselling and talking therapies"
