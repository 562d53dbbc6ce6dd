"""A feed import alongside an edit of a place its listings share (or alongside another import), on PostgreSQL: the
second writer waits for the first and both go through.

An import batch is one transaction (each record in a savepoint). It used to lock each listing as it reached its
record, in feed order: listing Z (record 1), later A and B (record 2, whose place A and B share). An edit moving that
place through Z locks A, B and Z in one statement ordered by id (services.lock_for_change): A and B, then it waited for
Z, which the import held while it waited for A - PostgreSQL aborted one (DeadlockDetected). Two imports of the same
listings in different orders met the same way. The import now locks, before its first record and in one statement
ordered by id, every listing the batch names and every listing offered at a place it names (services.lock_for_import).
Each test holds the first writer just after its first lock until the second waits for a lock, so the old order
deadlocked every time, not by chance."""

from __future__ import annotations

import copy
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.apps import dispose_app
from tests.services.directory.conftest import GEOCODER, make_app, token_for
from tests.services.directory.listing_locks import ListingLockWatch
from tests.services.directory.test_partner_pages import outbox, trail
from worklink_directory import demo
from worklink_directory.importer import import_records
from worklink_directory.models import Location, Service

# ids chosen so that A < B < Z: the edit's ordered lock takes A and B before it reaches Z
A = "00000000-0000-4000-8000-000000000001"
B = "00000000-0000-4000-8000-000000000002"
Z = "00000000-0000-4000-8000-000000000009"
P = "10000000-0000-4000-8000-000000000001"  # offered by A and B
Q = "10000000-0000-4000-8000-000000000002"  # Z's own
PLACE = {"name": "Taunton centre", "address_1": "1 High Street", "city": "Taunton", "state_province": "Somerset",
         "postal_code": "TA1 1AA", "latitude": 51.0146, "longitude": -3.1029}
BASE = next(iter(demo.demo_records()))
ORG = uuid.UUID(BASE["organization_id"])


def record(listing: str, description: str, place: str) -> dict:
    """A feed record for `listing` (the demo's first service, renamed) offered at `place`."""
    rec = {k: copy.deepcopy(v) for k, v in BASE.items() if k not in ("assured_date", "assurer_email")}
    rec.update(id=listing, name=f"Listing {listing[-1]}", description=description)
    rec["service_at_locations"] = [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{listing}/{place}")), "location": {
        "id": place, "location_type": "physical", "name": PLACE["name"], "latitude": PLACE["latitude"],
        "longitude": PLACE["longitude"], "addresses": [{
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"address/{place}")), "address_1": PLACE["address_1"],
            "city": PLACE["city"], "state_province": PLACE["state_province"], "postal_code": PLACE["postal_code"],
            "country": "GB", "address_type": "physical"}]}}]
    return rec


def run_import(app, records: list[dict]):
    ctx = app.extensions["worklink"]
    return import_records(ctx.database, ctx.outbox, copy.deepcopy(records), GEOCODER)


@pytest.fixture()
def imported(postgres_url, tmp_path):
    """The app with A and B offered at place P and Z at place Q, loaded from a feed."""
    app = make_app(postgres_url, tmp_path)
    try:
        report = run_import(app, [record(A, "A as loaded.", P), record(B, "B as loaded.", P),
                                  record(Z, "Z as loaded.", Q)])
        assert (report.created, report.rejected) == (3, []), report.rejected
        yield app
    finally:
        dispose_app(app)


class HeldAtFirstLock(ListingLockWatch):
    """Holds the thread named `first` just after its first row lock on listings, until another transaction waits for
    a lock (`second_may_start` is set once `first` has it)."""

    def __init__(self, app, postgres_url: str):
        super().__init__(app, postgres_url)
        self.second_may_start = threading.Event()
        self.released_by_a_wait = False

    def on_listing_lock(self) -> None:
        if threading.current_thread().name != "first" or self.second_may_start.is_set():
            return
        self.second_may_start.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.someone_waits_for_a_lock():
                self.released_by_a_wait = True
                return
            time.sleep(0.02)


def _first_then_second(app, postgres_url: str, first, second) -> tuple:
    """Run `first` until its first lock, then `second`, each in its own thread; (their results), or the errors."""
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def run(name: str, write) -> None:
        try:
            results[name] = write()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with HeldAtFirstLock(app, postgres_url) as held:
        one = threading.Thread(target=run, args=("first", first), name="first")
        one.start()
        assert held.second_may_start.wait(10), errors or "the first writer took no lock on a listing"
        two = threading.Thread(target=run, args=("second", second), name="second")
        two.start()
        for thread in (one, two):
            thread.join(30)
    assert not one.is_alive() and not two.is_alive()
    assert errors == [], errors  # before: psycopg.errors.DeadlockDetected in one of them (the edit's a 503)
    assert held.released_by_a_wait  # the second writer did wait for the first's locks
    return results["first"], results["second"]


def etag(app, listing: str) -> str:
    read = app.test_client().get(f"/manage/services/{listing}", headers=token_for(app, "alliance_admin"))
    return read.headers["ETag"]


def descriptions(app) -> dict[str, str]:
    with app.extensions["worklink"].database.sessions() as session:
        return {str(svc.id): svc.description for svc in session.scalars(sa.select(Service))}


def test_an_import_and_an_edit_of_a_place_its_listings_share_queue_instead_of_deadlocking(imported, postgres_url):
    """The feed changes Z (record 1) and A (record 2, naming A's place P, shared with B); meanwhile Ada adds P to Z
    and moves it. The import holds Z as it waits: the edit waits for the whole import, then moves all three."""
    app = imported
    events_before = len(outbox(app))

    def the_import():
        return run_import(app, [record(Z, "Z from the feed.", Q), record(A, "A from the feed.", P)])

    def the_edit():
        return app.test_client().patch(
            f"/manage/services/{Z}", headers=token_for(app, "org_admin", ORG, subject="ada"),
            json={"locations": [{"id": Q}, {"id": P, **PLACE, "address_1": "2 Station Road"}]})

    report, edit = _first_then_second(app, postgres_url, the_import, the_edit)

    assert (report.updated, report.unchanged, report.rejected) == (2, 0, []), report.rejected
    assert edit.status_code == 200, edit.get_json()
    # the edit came second and saw the import: Z keeps the feed's words, P has Ada's address
    assert descriptions(app) == {A: "A from the feed.", B: "B as loaded.", Z: "Z from the feed."}
    with app.extensions["worklink"].database.sessions() as session:
        assert session.get(Location, uuid.UUID(P)).address_1 == "2 Station Road"
    updated = [(subject, event["data"]["changed"], event["data"]["updated_at"])
               for kind, subject, event in outbox(app)[events_before:] if kind == "directory.service.updated"]
    assert [(subject, changed) for subject, changed, _ in updated[:2]] == [(Z, ["description"]), (A, ["description"])]
    assert sorted((subject, changed) for subject, changed, _ in updated[2:]) == [
        (A, ["locations"]), (B, ["locations"]), (Z, ["locations"])]
    moments = [moment for *_, moment in updated]
    assert moments[0] <= moments[1] < moments[2] == moments[3] == moments[4]  # the import's, then the edit's
    # the edit moved all three listings: each is at its version
    assert etag(app, A) == etag(app, B) == etag(app, Z) == edit.headers["ETag"]
    for listing in (A, B):
        assert ("update", f"locations/{P}/address_1", "1 High Street", "2 Station Road", "ada") in trail(app, listing)
    assert ("update", "description", "A as loaded.", "A from the feed.", "importer") in trail(app, A)


def test_two_imports_naming_the_same_listings_in_different_orders_queue(imported, postgres_url):
    """One feed lists Z then A, another A then Z (each with its own words): the second waits for the first and
    writes its words over them, each listing's change announced by each import."""
    app = imported
    events_before = len(outbox(app))

    def first():
        return run_import(app, [record(Z, "Z, first feed.", Q), record(A, "A, first feed.", P)])

    def second():
        return run_import(app, [record(A, "A, second feed.", P), record(Z, "Z, second feed.", Q)])

    one, two = _first_then_second(app, postgres_url, first, second)

    assert (one.updated, one.rejected, two.updated, two.rejected) == (2, [], 2, [])
    assert descriptions(app) == {A: "A, second feed.", B: "B as loaded.", Z: "Z, second feed."}
    updated = [(subject, event["data"]["changed"]) for kind, subject, event in outbox(app)[events_before:]
               if kind == "directory.service.updated"]
    assert updated == [(Z, ["description"]), (A, ["description"]), (A, ["description"]), (Z, ["description"])]
    assert {line for line in trail(app, A) if line[1] == "description"} == {
        ("update", "description", "A as loaded.", "A, first feed.", "importer"),
        ("update", "description", "A, first feed.", "A, second feed.", "importer")}


def test_a_batch_locks_what_its_records_name_and_nothing_it_cannot_read():
    """The batch's lock takes the listings its records give by id and the places they name; a record too broken to
    load (rejected with its reasons) names nothing, and never stops the batch from locking."""
    from worklink_directory.importer import _batch_names

    broken = {"id": "not-a-uuid", "service_at_locations": [{"location": {"id": 7}}, "x", {"location": "y"}]}
    batch = [(1, "not a record"), (2, broken), (3, record(A, "A.", P)), (4, {"id": Z, "service_at_locations": "x"}),
             (5, record(B, "B.", Q))]
    assert _batch_names(batch) == ({uuid.UUID(A), uuid.UUID(Z), uuid.UUID(B)}, {uuid.UUID(P), uuid.UUID(Q)})
