"""Models to Open Referral UK 3.0 JSON: ids as UUID strings, empty optional fields omitted.

Confidential locations (refuges and the like) are published without any address,
coordinates or postcode: only their id, type and a neutral name.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime, timezone
from math import ceil
from typing import Any, Iterable

from worklink_directory.models import (Contact, Location, Organization, Schedule, Service, ServiceArea,
                                       ServiceAtLocation, ServiceCapacity, Taxonomy, TaxonomyTerm)

VERSION = "HSDS-UK-3.0"
PROFILE = "https://openreferraluk.org/"
OPENAPI_URL = "https://openreferraluk.org/specifications/3.0/openapi.json"


def compact(value: Any) -> Any:
    """Drop None, empty strings and empty lists/objects, recursively (ORUK: omit, never null).

    On every response's hot path: scalars are handled inline rather than by a call each."""
    if type(value) is dict:
        out = {}
        for key, item in value.items():
            kind = type(item)
            if kind is dict or kind is list:
                item = compact(item)
                if item:
                    out[key] = item
            elif item is not None and item != "":
                out[key] = item
        return out
    if type(value) is list:
        return [compact(v) if type(v) is dict or type(v) is list else v for v in value]
    return value


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 with an offset (SQLite hands back naive UTC datetimes)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def _id(value) -> str | None:
    return str(value) if value is not None else None


_DERIVED = uuid.UUID("5b8f0c3e-9c1a-4d52-9a0e-6f3f2d7c1b44")


@functools.lru_cache(maxsize=65_536)  # every list page names each location's address and accessibility: a SHA-1 each
def _derived_id(kind: str, owner) -> str:
    """A stable id of its own for an ORUK object we keep no row for (a location's address, a
    service's free cost option), so no two objects of different kinds share an id."""
    return str(uuid.uuid5(_DERIVED, f"{kind}:{owner}"))


def _drop_empty(body: dict) -> dict:
    """compact() of a body whose nested objects are compact already: only its own values are checked."""
    return {key: value for key, value in body.items() if value is not None and value != "" and value != []
            and value != {}}


ORGANIZATION_FIELDS = ("id", "name", "description", "email", "website")  # what organization() reads


def organization(org: Organization) -> dict:
    return {"id": _id(org.id), "name": org.name, "description": org.description,
            "email": org.email, "website": org.website}


def taxonomy(tax: Taxonomy, terms: Iterable[TaxonomyTerm] = ()) -> dict:
    return compact({"id": _id(tax.id), "name": tax.name, "description": tax.description, "uri": tax.uri,
                    "version": tax.version, "taxonomy_terms": [taxonomy_term(t, nested=True) for t in terms]})


def taxonomy_term(term: TaxonomyTerm, nested: bool = False) -> dict:
    body = {"id": _id(term.id), "name": term.name, "description": term.description, "code": term.code,
            "parent_id": _id(term.parent_id), "taxonomy_id": _id(term.taxonomy_id), "term_uri": term.term_uri}
    if not nested:
        body["taxonomy"] = term.taxonomy.name
        body["taxonomy_detail"] = {"id": _id(term.taxonomy.id), "name": term.taxonomy.name,
                                   "description": term.taxonomy.description, "uri": term.taxonomy.uri}
    return compact(body)


def location(loc: Location, *, distance_m: float | None = None) -> dict:
    if loc.confidential:
        return compact({"id": _id(loc.id), "location_type": loc.location_type,
                        "name": "Confidential location", "description": "The address is given on contact."})
    address, location_id = None, _id(loc.id)
    if loc.address_1 and loc.city and loc.postal_code:  # ORUK requires these (and a county)
        address = {"id": _derived_id("address", loc.id), "location_id": location_id, "address_1": loc.address_1,
                   "city": loc.city, "state_province": loc.state_province or loc.city,
                   "postal_code": loc.postal_code, "country": loc.country, "address_type": "physical"}
    accessibility = ([{"id": _derived_id("accessibility", loc.id), "location_id": location_id,
                       "description": loc.accessibility}]
                     if loc.accessibility else [])
    return compact({"id": location_id, "location_type": loc.location_type, "name": loc.name,
                    "description": loc.description, "latitude": loc.latitude, "longitude": loc.longitude,
                    "addresses": [address] if address else [], "accessibility": accessibility,
                    "distance": round(distance_m) if distance_m is not None else None})


def service_area(area: ServiceArea) -> dict:
    return compact({"id": _id(area.id), "service_id": _id(area.service_id), "name": area.name,
                    "service_area": area.name, "extent": area.extent, "extent_type": area.extent_type,
                    "uri": area.uri, "x_postcode_districts": area.districts})  # extension, used for routing


def schedule(s: Schedule) -> dict:
    return compact({"id": _id(s.id), "service_id": _id(s.service_id), "freq": s.freq, "byday": s.byday,
                    "opens_at": s.opens_at, "closes_at": s.closes_at, "description": s.description,
                    "attending_type": s.attending_type})


def contact(c: Contact) -> dict:
    return compact({"id": _id(c.id), "service_id": _id(c.service_id), "name": c.name, "title": c.title,
                    "email": c.email,
                    "phones": [{"id": _id(p.id), "contact_id": _id(c.id), "number": p.number,
                                "description": p.description} for p in c.phones]})


def capacity(cap: ServiceCapacity | None) -> list[dict]:
    """HSDS 3.1 `service_capacity` (an extension to ORUK 3.0): places now and the typical wait."""
    if cap is None:
        return []
    return [compact({"id": _derived_id("service_capacity", cap.service_id), "service_id": _id(cap.service_id),
                     "available": max(cap.available_places, 0) if cap.available_places is not None
                     else (1 if cap.accepting_referrals else 0),
                     "unit": {"id": _derived_id("unit", "referral places"), "name": "referral places",
                              "scheme": "worklink"},
                     "accepting_referrals": cap.accepting_referrals,
                     "typical_wait_days": cap.typical_wait_days if (cap.typical_wait_days or 0) >= 0 else None,
                     "updated": iso(cap.updated)})]


SERVICE_SUMMARY_FIELDS = ("id", "organization_id", "name", "description", "url", "email", "status", "fees",
                          "minimum_age", "maximum_age", "assured_date", "assurer_email", "alert",
                          "last_modified")  # what service_summary() reads, besides the organization


def service_summary(svc: Service) -> dict:
    """One-to-one fields only (`service_list.json`)."""
    return compact({
        "id": _id(svc.id), "organization_id": _id(svc.organization_id), "name": svc.name,
        "description": svc.description, "url": svc.url, "email": svc.email, "status": svc.status,
        "fees": svc.fees, "minimum_age": svc.minimum_age, "maximum_age": svc.maximum_age,
        "assured_date": svc.assured_date.isoformat() if svc.assured_date else None,
        "assurer_email": svc.assurer_email, "alert": svc.alert,
        "last_modified": iso(svc.last_modified),
        "organization": organization(svc.organization),
    })


def service_full(svc: Service, cap: ServiceCapacity | None = None) -> dict:
    body = service_summary(svc)
    body.update(compact({
        "application_process": svc.application_process,
        "schedules": [schedule(s) for s in sorted(svc.schedules, key=lambda s: (s.day_index, s.opens_at))],
        "service_at_locations": [{"id": _id(sal.id), "service_id": _id(svc.id), "location_id": _id(sal.location_id),
                                  "location": location(sal.location)} for sal in svc.locations],
        "contacts": [contact(c) for c in svc.contacts],
        "cost_options": ([{"id": _derived_id("cost_option", svc.id), "service_id": _id(svc.id), "option": "Free",
                           "amount": 0}]
                         if svc.is_free else []),
        "attributes": [{"id": _id(a.id), "link_id": _id(svc.id), "link_type": "service",
                        "taxonomy_term_id": _id(a.taxonomy_term_id), "taxonomy_term": taxonomy_term(a.term)}
                       for a in svc.attributes],
        "service_areas": [service_area(a) for a in svc.service_areas],
        "service_capacity": capacity(cap),
    }))
    return body


def service_at_location(sal: ServiceAtLocation, *, distance_m: float | None = None, full: bool = False,
                        cap: ServiceCapacity | None = None) -> dict:
    """`full`: the service as /services/{id} gives it, its `service_capacity` (`cap`) too."""
    # the location and the service come back compact: walking them again would change nothing
    return _drop_empty({"id": _id(sal.id), "service_id": _id(sal.service_id), "location_id": _id(sal.location_id),
                        "location": location(sal.location, distance_m=distance_m),
                        "service": service_full(sal.service, cap) if full else service_summary(sal.service)})


def page(items: list[dict], *, total: int, page_number: int, per_page: int) -> dict:
    total_pages = max(ceil(total / per_page), 1) if per_page else 1
    return {"total_items": total, "total_pages": total_pages, "page_number": page_number, "size": len(items),
            "first_page": page_number == 1, "last_page": page_number >= total_pages,
            "empty": not items, "contents": items}
