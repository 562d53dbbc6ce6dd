"""ORUK rendering rules (pure functions)."""

from worklink_directory.oruk import compact


def test_compact_omits_empty_values_at_every_depth_but_keeps_zero_and_false():
    value = {"a": None, "b": "", "c": [], "d": {}, "e": 0, "f": False,
             "g": [{"x": None, "y": 1}, 2, {"z": ""}], "h": {"i": {"j": None}}, "k": {"l": [None, "m"]}}
    assert compact(value) == {"e": 0, "f": False, "g": [{"y": 1}, 2, {}], "k": {"l": [None, "m"]}}


def test_a_service_at_location_renders_compact_at_every_depth_with_stable_derived_ids():
    """service_at_location leaves its nested location and service as they render (compact already) and
    derived ids are remembered: the body is what compact() would make of it, and ids never change."""
    import uuid
    from types import SimpleNamespace

    from worklink_directory.oruk import service_at_location

    def ids(n: int) -> list[uuid.UUID]:
        return [uuid.UUID(int=i + 1) for i in range(n)]

    loc_id, svc_id, org_id, sal_id = ids(4)
    loc = SimpleNamespace(id=loc_id, confidential=False, location_type="physical", name="", description=None,
                          latitude=51.0, longitude=-3.1, address_1="1 High Street", city="Taunton", state_province=None,
                          postal_code="TA1 1AA", country="GB", accessibility="Step-free access.")
    org = SimpleNamespace(id=org_id, name="Somerset Working Well", description="", email=None, website=None)
    svc = SimpleNamespace(id=svc_id, organization_id=org_id, name="Job club", description=None, url="", email=None,
                          status="active", fees=None, minimum_age=0, maximum_age=None, assured_date=None,
                          assurer_email=None, alert="", last_modified=None, organization=org)
    sal = SimpleNamespace(id=sal_id, service_id=svc_id, location_id=loc_id, location=loc, service=svc)
    body = service_at_location(sal)
    assert compact(body) == body
    assert set(body) == {"id", "service_id", "location_id", "location", "service"}
    assert "name" not in body["location"] and "distance" not in body["location"]
    assert body["service"]["minimum_age"] == 0 and "alert" not in body["service"]
    assert body["service"]["organization"] == {"id": str(org_id), "name": "Somerset Working Well"}
    derived = uuid.UUID("5b8f0c3e-9c1a-4d52-9a0e-6f3f2d7c1b44")  # ids published in feeds: the same every release
    address, = body["location"]["addresses"]
    accessibility, = body["location"]["accessibility"]
    assert address["id"] == str(uuid.uuid5(derived, f"address:{loc_id}"))
    assert accessibility["id"] == str(uuid.uuid5(derived, f"accessibility:{loc_id}")) != address["id"]
    assert service_at_location(sal, distance_m=812.4) == {**body, "location": {**body["location"], "distance": 812}}
