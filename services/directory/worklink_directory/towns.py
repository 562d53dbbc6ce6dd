"""Town names and postcode districts typed among a resident's search words ("counselling in Bridgwater", "debt
TA6"): the towns are those of the listings' public addresses (and the districts of their postcodes), each placed
at the middle of its locations and holding its postcode districts, so a town is searched as a postcode there is:
services open to people living there, best matches first (nearest first without other words), with distances
from its middle."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from worklink_directory.geocode import POSTCODE, Point
from worklink_directory.models import Location

_NEAR = r"(?:(?:in|near|around|at)\s+)?"  # "help in Frome": the little word goes with the town


@dataclass(frozen=True)
class Town:
    name: str
    point: Point
    districts: tuple[str, ...]


def _spelling(name: str) -> str:
    """How a town is compared: "Burnham-on-Sea", "burnham on sea" and "Burnham on  Sea" alike."""
    return " ".join(re.findall(r"[a-z0-9]+", name.lower()))


@dataclass(frozen=True)
class _Known:
    by_spelling: dict[str, Town]
    pattern: re.Pattern | None
    loaded_at: float


class Towns:
    """The towns of public locations, per database, read at most every few minutes (one grouped query):
    finding a town in the words compares them with a few dozen names, never the listings."""

    TTL_SECONDS = 300.0

    def __init__(self):
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def _load(self, session: Session) -> _Known:
        database = session.get_bind().url.render_as_string(hide_password=True)
        with self._lock:
            known = self._known.get(database)
            if known is None or time.monotonic() - known.loaded_at > self.TTL_SECONDS:
                by_spelling = {_spelling(t.name): t for t in _read_towns(session)}
                names = sorted(by_spelling, key=len, reverse=True)  # "Shepton Mallet" before any "Mallet"
                alternatives = "|".join(r"[\s-]+".join(map(re.escape, n.split())) for n in names)
                pattern = re.compile(rf"\b{_NEAR}({alternatives})\b", re.IGNORECASE) if names else None
                known = self._known[database] = _Known(by_spelling, pattern, time.monotonic())
            return known

    def find_in(self, session: Session, words: str) -> tuple[Town | None, str]:
        """The first known town among `words`, and the words without it (and its "in" or "near")."""
        known = self._load(session)
        match = known.pattern.search(words) if known.pattern else None
        if match is None:
            return None, words
        rest = " ".join((words[:match.start()] + " " + words[match.end():]).split())
        return known.by_spelling[_spelling(match.group(1))], rest


def _read_towns(session: Session) -> list[Town]:
    """Each town, and each postcode district ("TA1"), of the public locations: placed at the middle of
    their locations, from one query grouped by town and postcode (a few thousand rows at most)."""
    public = [Location.latitude.is_not(None), Location.longitude.is_not(None),
              Location.confidential.is_(False)]  # a refuge's place never moves a town's middle
    rows = session.execute(sa.select(Location.city, Location.postal_code, sa.func.count(),
                                     sa.func.avg(Location.latitude), sa.func.avg(Location.longitude))
                           .where(*public).group_by(Location.city, Location.postal_code)).all()
    towns: dict[str, _Middle] = {}
    districts: dict[str, _Middle] = {}
    for city, postcode, count, latitude, longitude in rows:
        match = POSTCODE.match((postcode or "").strip().upper())
        district = match.group(1) if match else None
        if (city or "").strip():
            towns.setdefault(city.strip(), _Middle()).add(count, latitude, longitude, district)
        if district:
            districts.setdefault(district, _Middle()).add(count, latitude, longitude, district)
    return [middle.town(name) for name, middle in (*towns.items(), *districts.items())]


class _Middle:
    """The running middle of a place's locations and the postcode districts they are in."""

    def __init__(self):
        self.count, self.latitude, self.longitude, self.districts = 0, 0.0, 0.0, set()

    def add(self, count: int, latitude, longitude, district: str | None) -> None:
        self.count += count
        self.latitude += count * float(latitude)
        self.longitude += count * float(longitude)
        self.districts |= {district} if district else set()

    def town(self, name: str) -> Town:
        return Town(name, Point(self.latitude / self.count, self.longitude / self.count), tuple(sorted(self.districts)))


TOWNS = Towns()
