"""The production postcode adapter against a real HTTP server shaped like postcodes.io, and what
residents, programs and partners see when that service is down."""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import contextmanager
from typing import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
from sqlalchemy import event

from tests.services.directory.conftest import ORG_A, build_directory, make_app, service_body, token_for
from worklink.auth import mint_token
from worklink.web.pages import SESSION_COOKIE
from worklink_directory import demo
from worklink_directory.app import create_app
from worklink_directory.geocode import (GeocoderUnavailable, Point, PostcodeError, PostcodesIoGeocoder,
                                       geocoder_from_env)
from worklink_directory.importer import import_records
from worklink_directory.models import Service
from tests.browser import sealed

KNOWN = {"TA1 1AA": (51.0146, -3.1029), "TA6 3BB": (51.1280, -3.0030), "BA20 1AA": (50.9420, -2.6330)}


class PostcodesIo(BaseHTTPRequestHandler):
    """GET /postcodes/<postcode> as postcodes.io answers it; 'TA9 9ZZ' has no coordinates, 'TA9 9XX' breaks."""

    requests: list[str] = []
    on_request: Callable[[str], None] | None = None

    def do_GET(self):  # noqa: N802 - the http.server API
        postcode = unquote(self.path.removeprefix("/postcodes/"))
        self.requests.append(postcode)
        if PostcodesIo.on_request:
            PostcodesIo.on_request(postcode)
        if postcode == "TA9 9XX":
            return self._answer(500, {"status": 500, "error": "Internal server error"})
        if postcode == "TA9 9ZZ":
            return self._answer(200, {"status": 200, "result": {"postcode": postcode, "latitude": None,
                                                                "longitude": None}})
        if postcode not in KNOWN:
            return self._answer(404, {"status": 404, "error": "Postcode not found"})
        lat, lon = KNOWN[postcode]
        return self._answer(200, {"status": 200, "result": {"postcode": postcode, "latitude": lat, "longitude": lon}})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def postcodes_io():
    server = ThreadingHTTPServer(("127.0.0.1", 0), PostcodesIo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_adapter_places_known_postcodes_and_explains_the_rest():
    with postcodes_io() as url:
        geocoder = geocoder_from_env({"DIRECTORY_GEOCODER_URL": url + "/"})
        assert isinstance(geocoder, PostcodesIoGeocoder)
        PostcodesIo.requests.clear()
        assert geocoder.locate("ta11aa") == Point(51.0146, -3.1029)  # normalised before it is sent
        assert PostcodesIo.requests == ["TA1 1AA"]
        with pytest.raises(PostcodeError, match="We do not know the postcode ZZ9 9ZZ"):
            geocoder.locate("ZZ9 9ZZ")
        with pytest.raises(PostcodeError, match="not a UK postcode"):
            geocoder.locate("nowhere")
        assert PostcodesIo.requests == ["TA1 1AA", "ZZ9 9ZZ"]  # a malformed one is never sent
        with pytest.raises(PostcodeError, match="cannot place the postcode TA9 9ZZ"):
            geocoder.locate("TA9 9ZZ")
        with pytest.raises(GeocoderUnavailable, match="answered 500"):
            geocoder.locate("TA9 9XX")
    with pytest.raises(GeocoderUnavailable, match="did not answer"):  # the server is gone
        geocoder.locate("TA1 1AA")


def test_read_and_write_apis_use_it_and_say_503_when_it_is_down(sqlite_url, tmp_path):
    seeded = make_app(sqlite_url, tmp_path)
    known = build_directory(seeded)
    settings = seeded.extensions["worklink"].settings
    with postcodes_io() as url:
        app = create_app(settings=settings, geocoder=PostcodesIoGeocoder(url))
        client = app.test_client()
        near = client.get("/service_at_locations?postcode=TA6 3BB&proximity=5000").get_json()
        assert [i["service_id"] for i in near["contents"]] == [known.ids["debt"]]
        unknown = client.get("/service_at_locations?postcode=ZZ9 9ZZ")
        assert unknown.status_code == 400 and unknown.get_json()["errors"][0]["pointer"] == "/postcode"
        body = service_body(ORG_A, "Bridgwater CV clinic", ["cv-interview"])
        body["locations"] = [{"name": "Library", "address_1": "Binford Place", "city": "Bridgwater",
                              "postal_code": "TA6 3BB"}]
        owner = token_for(app, "org_admin", ORG_A)
        created = client.post("/manage/services", json=body, headers=owner)
        assert created.get_json()["service_at_locations"][0]["location"]["latitude"] == 51.1280
    # the postcode service is down: a 503 problem for programs, never a 500 or an empty list
    down = client.get("/service_at_locations?postcode=TA1 1AA&proximity=5000")
    assert down.status_code == 503 and down.mimetype == "application/problem+json"
    assert down.headers["Retry-After"] == "60" and down.get_json()["title"] == "Postcode lookup unavailable"
    body["name"] = "Another CV clinic"
    refused = client.post("/manage/services", json=body, headers=owner)
    assert refused.status_code == 503  # nothing half-saved: the listing is not created
    listed = client.get("/services?per_page=100").get_json()["contents"]
    assert "Another CV clinic" not in [s["name"] for s in listed]
    # residents are told beside the postcode field, and can search without it
    page = client.get("/find?q=counselling&postcode=TA1 1AA")
    html = page.get_data(as_text=True)
    assert page.status_code == 503 and "We cannot look up postcodes just now." in html and 'href="#postcode"' in html
    assert client.get("/find?q=counselling").status_code == 200


@contextmanager
def open_transactions_seen_by_the_geocoder(engine):
    """Each postcode the geocoder is asked for, with how many database transactions were open then."""
    open_now: set[int] = set()
    seen: list[tuple[str, int]] = []

    def begin(conn):
        open_now.add(id(conn))

    def end(conn):
        open_now.discard(id(conn))

    listeners = [("begin", begin), ("commit", end), ("rollback", end)]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    PostcodesIo.on_request = lambda postcode: seen.append((postcode, len(open_now)))
    try:
        yield seen
    finally:
        PostcodesIo.on_request = None
        for name, listener in listeners:
            event.remove(engine, name, listener)


def test_postcodes_are_looked_up_before_a_write_transaction_opens(sqlite_url, tmp_path):
    """A slow postcode service must never hold the database's writer lock (SQLite has one writer):
    the API, the partner pages and the importer look the postcodes up first, then write."""
    seeded = make_app(sqlite_url, tmp_path)
    known = build_directory(seeded)
    settings = seeded.extensions["worklink"].settings
    with postcodes_io() as url:
        geocoder = PostcodesIoGeocoder(url)
        app = create_app(settings=settings, geocoder=geocoder)
        ctx = app.extensions["worklink"]
        with open_transactions_seen_by_the_geocoder(ctx.database.engine) as seen:
            client, owner = app.test_client(), token_for(app, "org_admin", ORG_A)
            body = service_body(ORG_A, "Bridgwater CV clinic", ["cv-interview"])
            body["locations"] = [{"name": "Library", "address_1": "Binford Place", "city": "Bridgwater",
                                  "postal_code": "TA6 3BB"}]
            created = client.post("/manage/services", json=body, headers=owner)
            assert created.status_code == 201, created.get_json()
            assert created.get_json()["service_at_locations"][0]["location"]["latitude"] == 51.1280
            location = {"name": "Yeovil library", "address_1": "King George Street", "city": "Yeovil",
                        "postal_code": "BA20 1AA"}
            changed = client.patch(f"/manage/services/{created.get_json()['id']}", json={"locations": [location]},
                                   headers=owner)
            assert changed.get_json()["service_at_locations"][0]["location"]["latitude"] == 50.9420

            staff = app.test_client()
            staff.set_cookie(SESSION_COOKIE, sealed(app, mint_token(settings.jwt, role="org_admin", org=str(ORG_A))))
            page = staff.get("/partner").get_data(as_text=True)
            csrf_token = page.split('name="csrf_token" value="')[1].split('"')[0]
            added = staff.post(f"/partner/services/{known.ids['counselling']}/locations/new",
                               data={"csrf_token": csrf_token, "address_1": "1 Fore Street", "city": "Bridgwater",
                                     "postal_code": "ta6 3bb"})
            assert added.status_code == 303

            record = next(iter(demo.demo_records()))
            place = record["service_at_locations"][0]["location"]
            del place["latitude"], place["longitude"]
            place["addresses"][0]["postal_code"] = "BA20 1AA"
            report = import_records(ctx.database, ctx.outbox, [record], geocoder)
            assert report.created == 1 and not report.rejected
        assert seen == [("TA6 3BB", 0), ("BA20 1AA", 0), ("TA6 3BB", 0), ("BA20 1AA", 0)]
    with ctx.database.sessions() as session:
        (imported,) = session.get(Service, uuid.UUID(record["id"])).locations
        assert (imported.location.latitude, imported.location.longitude) == KNOWN["BA20 1AA"]
