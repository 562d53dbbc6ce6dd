"""Two listings sharing a place, each changed at the same time with a change to that place, on PostgreSQL: the second
write waits for the first and both go through (or the second is a 412 when it names the version the first moved).

A change to a shared place moves every listing offered there (aeccec7), so such a write locks two listings. Each
write used to lock its own listing first and the other (the sibling) last: two of them at once each held one and
waited for the other, and PostgreSQL aborted one (DeadlockDetected). services.lock_for_change now takes every
listing a write can touch through a shared place in one statement, in order of id, before anything else."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.apps import dispose_app
from tests.services.directory.conftest import GEOCODER, ORG_A, build_directory, make_app, service_body, token_for
from tests.services.directory.listing_locks import ListingLockWatch
from tests.services.directory.test_partner_pages import outbox, trail
from worklink_directory import services
from worklink_directory.models import Location

PLACE = {"name": "Taunton centre", "address_1": "1 High Street", "city": "Taunton", "postal_code": "TA1 1AA",
         "latitude": 51.0146, "longitude": -3.1029, "accessibility": "Step-free access.", "confidential": False}


@pytest.fixture()
def shared(postgres_url, tmp_path):
    """(app, counselling's id, a second listing's id, their one place's id): the outreach listing is offered at the
    counselling listing's place, as an imported feed may offer two listings at one place."""
    app = make_app(postgres_url, tmp_path)
    try:
        known = build_directory(app)
        counselling = known.ids["counselling"]
        client = app.test_client()
        (sal,) = client.get(f"/services/{counselling}").get_json()["service_at_locations"]
        place = sal["location"]["id"]
        outreach = client.post("/manage/services", headers=token_for(app, "org_admin", ORG_A), json={
            **service_body(ORG_A, "Outreach support", ["counselling"]), "locations": [{"id": place, **PLACE}]})
        assert outreach.status_code == 201, outreach.get_json()
        yield app, counselling, outreach.get_json()["id"], place
    finally:
        dispose_app(app)


class Interleaved(ListingLockWatch):
    """Holds each writer just after its first row lock on listings until the other writer has its first one too, or
    is waiting for a lock (as it is when both lock in one order): so the old order, own listing first and the
    sibling last, met the deadlock every time instead of by chance."""

    def __init__(self, app, postgres_url: str):
        super().__init__(app, postgres_url)
        self.locked: set[int] = set()
        self.guard = threading.Lock()

    def on_listing_lock(self) -> None:
        me = threading.get_ident()
        with self.guard:
            if me in self.locked:
                return
            self.locked.add(me)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.guard:
                if len(self.locked) > 1:
                    return
            if self.someone_waits_for_a_lock():
                return
            time.sleep(0.02)
        raise AssertionError("the other writer neither locked a listing nor waited for one")


def _at_once(app, postgres_url: str, writes: list) -> list:
    """Run each write (a function of a test client) in its own thread, interleaved; their responses, in order."""
    answers: list = [None] * len(writes)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            answers[index] = writes[index](app.test_client())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with Interleaved(app, postgres_url):
        threads = [threading.Thread(target=run, args=(index,)) for index in range(len(writes))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads) and errors == [], errors
    return answers


def _moved(app, listing: str, place: str, subject: str, address: str):
    """A PATCH of `listing` moving its place (the shared one) to `address`, as `subject`."""
    def write(client):
        return client.patch(f"/manage/services/{listing}", headers=token_for(app, "org_admin", ORG_A, subject=subject),
                            json={"locations": [{"id": place, **PLACE, "address_1": address}]})
    return write


def etag(app, listing: str) -> str:
    read = app.test_client().get(f"/manage/services/{listing}", headers=token_for(app, "alliance_admin"))
    return read.headers["ETag"]


def test_two_listings_changing_their_shared_place_at_once_both_save(shared, postgres_url):
    """Ada moves the place through the counselling listing as Bea moves it through the outreach one, no If-Match:
    both are saved (before, PostgreSQL aborted one: DeadlockDetected, a 503), one after the other."""
    app, counselling, outreach, place = shared
    before = {listing: etag(app, listing) for listing in (counselling, outreach)}
    events_before = len(outbox(app))

    ada, bea = _at_once(app, postgres_url, [_moved(app, counselling, place, "ada", "2 Station Road"),
                                            _moved(app, outreach, place, "bea", "3 Mill Lane")])

    assert (ada.status_code, bea.status_code) == (200, 200), (ada.get_json(), bea.get_json())
    first, second = sorted([("ada", ada, "2 Station Road"), ("bea", bea, "3 Mill Lane")],
                           key=lambda write: int(write[1].headers["ETag"].strip('"')))
    # the second waited for the first: it saw the first's address, and wrote its own over it
    with app.extensions["worklink"].database.sessions() as session:
        assert session.get(Location, uuid.UUID(place)).address_1 == second[2]
    for listing in (counselling, outreach):
        assert {line for line in trail(app, listing) if line[1] == f"locations/{place}/address_1"} == {
            ("update", f"locations/{place}/address_1", "1 High Street", first[2], first[0]),
            ("update", f"locations/{place}/address_1", first[2], second[2], second[0])}
        # each write moved both listings: both are now at the second's version, which each write's ETag tells
        assert etag(app, listing) == second[1].headers["ETag"] != first[1].headers["ETag"] != before[listing]
    updated = [(subject, event["data"]["changed"], event["data"]["updated_at"])
               for kind, subject, event in outbox(app)[events_before:] if kind == "directory.service.updated"]
    assert len(updated) == 4 and {subject for subject, *_ in updated} == {counselling, outreach}
    assert all(changed == ["locations"] for _, changed, _ in updated)
    moments = [moment for *_, moment in updated]
    assert moments[0] == moments[1] < moments[2] == moments[3]  # the first write's two events, then the second's


def test_the_second_of_two_writes_naming_versions_is_refused_not_deadlocked(shared, postgres_url):
    """Each sends the ETag of its own listing as it read it. The first moves the other listing too (their place
    changed), so the second, which waited for it, names a version that is gone: 412, nothing of it written."""
    app, counselling, outreach, place = shared
    read = {listing: etag(app, listing) for listing in (counselling, outreach)}

    def conditional(listing: str, subject: str, address: str):
        def write(client):
            return client.patch(f"/manage/services/{listing}", headers={
                **token_for(app, "org_admin", ORG_A, subject=subject), "If-Match": read[listing]},
                json={"locations": [{"id": place, **PLACE, "address_1": address}]})
        return write

    ada, bea = _at_once(app, postgres_url, [conditional(counselling, "ada", "2 Station Road"),
                                            conditional(outreach, "bea", "3 Mill Lane")])

    assert sorted([ada.status_code, bea.status_code]) == [200, 412], (ada.get_json(), bea.get_json())
    won, address = (ada, "2 Station Road") if ada.status_code == 200 else (bea, "3 Mill Lane")
    with app.extensions["worklink"].database.sessions() as session:
        assert session.get(Location, uuid.UUID(place)).address_1 == address
    assert etag(app, counselling) == etag(app, outreach) == won.headers["ETag"]


def test_a_listing_offered_at_the_place_while_the_write_locks_is_locked_too(shared, monkeypatch):
    """The listings at a place are read before they are locked. One offered there in between (its own write took the
    listings it saw there and committed) is found when the set is read again under the lock: the locks are let go
    and all of them taken again in one statement, before anything changes - and the place's change moves it too."""
    app, counselling, outreach, place = shared
    database, statements, newcomer = app.extensions["worklink"].database, [], []
    read_sharing = services._listings_at

    def offered_there_meanwhile(session, listings, places):
        found = read_sharing(session, listings, places)
        if not newcomer and uuid.UUID(counselling) in listings:
            newcomer.append(uuid.uuid4())
            with database.transaction() as other:
                services.create_service(other, app.extensions["worklink"].outbox, {
                    "id": newcomer[0], "organization_id": ORG_A, "name": "Drop-in support", "description": "Drop in.",
                    "locations": [{"id": uuid.UUID(place)}]}, services.Editor("cy"), GEOCODER)
            sa.event.listen(database.engine, "before_cursor_execute", record)  # the write's own, from here on
        return found

    def record(_conn, _cursor, statement, parameters, *_args) -> None:
        ids = sum(isinstance(value, uuid.UUID) for value in (parameters or {}).values())
        for kind in ("ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT", "SAVEPOINT", "UPDATE location", "UPDATE service"):
            if statement.startswith(kind):
                statements.append(kind)
                return
        if "FROM service" in statement and "FOR UPDATE" in statement:
            statements.append(f"lock {ids}")

    monkeypatch.setattr(services, "_listings_at", offered_there_meanwhile)
    try:
        answer = _moved(app, counselling, place, "ada", "2 Station Road")(app.test_client())
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", record)
    assert answer.status_code == 200, answer.get_json()
    # its first set (without the newcomer) let go, then all three at once, before anything changed
    assert statements[:statements.index("UPDATE location")] == [
        "SAVEPOINT", "lock 2", "ROLLBACK TO SAVEPOINT", "SAVEPOINT", "lock 3", "RELEASE SAVEPOINT"], statements
    joined = str(newcomer[0])
    assert ("update", f"locations/{place}/address_1", "1 High Street", "2 Station Road", "ada") in trail(app, joined)
    assert etag(app, joined) == etag(app, outreach) == etag(app, counselling) == answer.headers["ETag"]
    assert (joined, ["locations"]) in [(subject, event["data"]["changed"]) for kind, subject, event in outbox(app)
                                       if kind == "directory.service.updated"]
