"""The production postcode adapter against a real HTTP server shaped like postcodes.io, and what
residents, programs and partners see when that service is down."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from tests.services.directory.conftest import ORG_A, build_directory, make_app, service_body, token_for
from worklink_directory.app import create_app
from worklink_directory.geocode import (GeocoderUnavailable, Point, PostcodeError, PostcodesIoGeocoder,
                                       geocoder_from_env)

KNOWN = {"TA1 1AA": (51.0146, -3.1029), "TA6 3BB": (51.1280, -3.0030), "BA20 1AA": (50.9420, -2.6330)}


class PostcodesIo(BaseHTTPRequestHandler):
    """GET /postcodes/<postcode> as postcodes.io answers it; 'TA9 9ZZ' has no coordinates, 'TA9 9XX' breaks."""

    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - the http.server API
        postcode = unquote(self.path.removeprefix("/postcodes/"))
        self.requests.append(postcode)
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
