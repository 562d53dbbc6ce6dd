"""Postcodes to coordinates: an interface, an offline default and a production adapter.

`OfflineGeocoder` reads a CSV shipped with the service (the demo county's postcodes
and outcode centroids; an outcode centroid answers for a full postcode it does not
list). `PostcodesIoGeocoder` asks a postcodes.io-compatible HTTP API (set
`DIRECTORY_GEOCODER_URL`, e.g. the public one or a self-hosted copy).
"""

from __future__ import annotations

import csv
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Protocol

from worklink.config import url_setting

# The UK postcode shape (outward code, optional space, inward code), GIR 0AA aside.
POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][0-9A-Z]?)\s*([0-9][A-Z]{2})$")


class PostcodeError(ValueError):
    """A postcode that is malformed or unknown; the message is fit to show to a person."""


class GeocoderUnavailable(OSError):
    """The postcode service could not answer (down, slow or broken): not the person's mistake."""


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float


def normalise_postcode(text: str) -> str:
    match = POSTCODE.match((text or "").strip().upper())
    if not match:
        raise PostcodeError(f"{text!r} is not a UK postcode: use the format 'TA1 1AA'.")
    return f"{match.group(1)} {match.group(2)}"


class Geocoder(Protocol):
    def locate(self, postcode: str) -> Point:
        """The postcode's centroid; raises PostcodeError if malformed or unknown."""


class OfflineGeocoder:
    def __init__(self, rows: dict[str, Point]):
        self.rows = rows

    @classmethod
    def demo(cls) -> "OfflineGeocoder":
        text = resources.files("worklink_directory").joinpath("data/somerset_postcodes.csv").read_text()
        lines = (line for line in text.splitlines() if not line.startswith("#"))
        return cls({row["postcode"]: Point(float(row["latitude"]), float(row["longitude"]))
                    for row in csv.DictReader(lines)})

    def locate(self, postcode: str) -> Point:
        normal = normalise_postcode(postcode)
        point = self.rows.get(normal) or self.rows.get(normal.split(" ")[0])
        if point is None:
            raise PostcodeError(f"We do not know the postcode {normal}; this directory covers Somerset.")
        return point


class PostcodesIoGeocoder:
    def __init__(self, base_url: str, timeout: float = 3.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def locate(self, postcode: str) -> Point:
        normal = normalise_postcode(postcode)
        url = f"{self.base_url}/postcodes/{urllib.parse.quote(normal)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310 - configured URL
                result = json.load(response)["result"]
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise PostcodeError(f"We do not know the postcode {normal}.") from None
            raise GeocoderUnavailable(f"The postcode service answered {exc.code}.") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:  # unreachable, timed out, or not its JSON
            raise GeocoderUnavailable(f"The postcode service did not answer: {exc}") from exc
        if not isinstance(result, dict) or result.get("latitude") is None or result.get("longitude") is None:
            raise PostcodeError(f"We cannot place the postcode {normal} on a map.")  # e.g. a new or non-geographic one
        return Point(float(result["latitude"]), float(result["longitude"]))


class Prelocated:
    """Postcodes looked up before a write transaction opens, so a slow or unreachable postcode
    service never holds the database's writer lock. It answers (or fails) as the geocoder did;
    a postcode not looked up ahead is asked of the geocoder then."""

    def __init__(self, geocoder: Geocoder, postcodes: Iterable[str]):
        self.geocoder = geocoder
        self.answers: dict[str, Point | PostcodeError | GeocoderUnavailable] = {}
        for postcode in postcodes:
            try:
                normal = normalise_postcode(postcode)
            except PostcodeError:
                continue  # refused again, with the same message, when it is used
            if normal not in self.answers:
                try:
                    self.answers[normal] = geocoder.locate(normal)
                except (PostcodeError, GeocoderUnavailable) as exc:
                    self.answers[normal] = exc

    def locate(self, postcode: str) -> Point:
        answer = self.answers.get(normalise_postcode(postcode))
        if answer is None:
            return self.geocoder.locate(postcode)
        if isinstance(answer, Exception):
            raise answer
        return answer


def distance_metres(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def bounding_box(centre: Point, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) enclosing a circle: an index-friendly prefilter."""
    dlat = math.degrees(radius_m / 6_371_000)
    dlon = dlat / max(math.cos(math.radians(centre.latitude)), 1e-6)
    return centre.latitude - dlat, centre.latitude + dlat, centre.longitude - dlon, centre.longitude + dlon


def squared_degrees(centre: Point, latitude, longitude):
    """Equirectangular squared distance from `centre` in degrees of latitude, for ordering in SQL
    (plain arithmetic on the columns, no trigonometry). Within a county its error is far below a
    metre per kilometre; the distance people see is the great-circle one (distance_metres)."""
    squeeze = math.cos(math.radians(centre.latitude))
    dlat, dlon = latitude - centre.latitude, (longitude - centre.longitude) * squeeze
    return dlat * dlat + dlon * dlon


def geocoder_url(env) -> str:
    """DIRECTORY_GEOCODER_URL, refused at start by its name unless http(s) with a host ("" when unset)."""
    return url_setting(env, "DIRECTORY_GEOCODER_URL")


def degrees(radius_m: float) -> float:
    """A distance on the ground as degrees of latitude (compare with squared_degrees' root)."""
    return math.degrees(radius_m / 6_371_000)


def geocoder_from_env(env) -> Geocoder:
    url = geocoder_url(env)
    return PostcodesIoGeocoder(url) if url else OfflineGeocoder.demo()
