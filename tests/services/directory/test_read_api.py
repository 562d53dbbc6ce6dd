"""The ORUK 3.0 read API: schema-valid responses, every filter alone and combined, pages, ranking,
proximity, and a 400 problem for every kind of bad parameter."""

from __future__ import annotations

import uuid

import pytest

from tests.services.directory.conftest import ORG_A, build_directory, make_app, service_body, token_for
from worklink_directory import demo, oruk_schemas


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()["contents"]]


def assert_valid(schema: str, document: dict) -> None:
    assert oruk_schemas.problems(schema, document) == [], document


def assert_page(body: dict, *, total: int, page: int, size: int, pages: int) -> None:
    assert {k: body[k] for k in ("total_items", "page_number", "size", "total_pages")} == \
        {"total_items": total, "page_number": page, "size": size, "total_pages": pages}
    assert body["first_page"] is (page == 1)
    assert body["last_page"] is (page == pages)
    assert body["empty"] is (size == 0)
    assert len(body["contents"]) == size


def test_every_endpoint_validates_against_the_oruk_schemas(app, directory):
    client = app.test_client()
    root = client.get("/")
    assert root.get_json() == {"version": "HSDS-UK-3.0", "profile": "https://openreferraluk.org/",
                               "openapi_url": "https://openreferraluk.org/specifications/3.0/openapi.json"}
    services = client.get("/services?per_page=100").get_json()
    assert services["total_items"] == 6
    for item in services["contents"]:
        assert_valid("service_list", item)
        full = client.get(f"/services/{item['id']}").get_json()
        assert_valid("service", full)
        assert None not in full.values() and "" not in full.values() and [] not in full.values()
    sals = client.get("/service_at_locations?per_page=100").get_json()
    assert sals["total_items"] == 5  # the online-only service has no location
    for item in sals["contents"]:
        assert_valid("service_at_location_list", item)
        assert_valid("service_at_location", client.get(f"/service_at_locations/{item['id']}").get_json())
    taxonomies = client.get("/taxonomies").get_json()
    assert taxonomies["total_items"] == 1
    for item in taxonomies["contents"]:
        assert_valid("taxonomy", item)
        detail = client.get(f"/taxonomies/{item['id']}").get_json()
        assert_valid("taxonomy", detail)
        assert len(detail["taxonomy_terms"]) == 17  # the demo taxonomy's terms (demo.TERMS)
    terms = client.get("/taxonomy_terms?per_page=100").get_json()
    assert terms["total_items"] == 17
    for item in terms["contents"]:
        assert_valid("taxonomy_term", item)
        assert_valid("taxonomy_term", client.get(f"/taxonomy_terms/{item['id']}").get_json())


def test_full_service_is_nested_and_uuid_identified(app, directory):
    body = app.test_client().get(f"/services/{directory.ids['counselling']}").get_json()
    uuid.UUID(body["id"])
    assert body["organization"]["name"] == "Somerset Working Well"
    assert [(s["byday"], s["opens_at"]) for s in body["schedules"]] == [("MO", "09:00"), ("WE", "09:00")]
    assert body["contacts"][0]["phones"][0]["number"] == "01632 960001"
    location = body["service_at_locations"][0]["location"]
    assert location["addresses"][0]["postal_code"] == "TA1 1AA"
    assert location["accessibility"][0]["description"] == "Step-free access."
    assert {a["taxonomy_term"]["code"] for a in body["attributes"]} == {"counselling", "mental-health"}
    assert body["cost_options"][0]["amount"] == 0
    # every object has an id of its own: an address or cost option is not its location or service
    owned = {location["addresses"][0]["id"], location["accessibility"][0]["id"], body["cost_options"][0]["id"]}
    assert len(owned) == 3 and not owned & {body["id"], location["id"]}
    assert app.test_client().get(f"/services/{directory.ids['counselling']}").get_json() == body  # stable


def test_confidential_locations_never_publish_their_address(app, directory):
    client = app.test_client()
    full = client.get(f"/services/{directory.ids['refuge']}").get_json()
    location = full["service_at_locations"][0]["location"]
    assert set(location) == {"id", "location_type", "name", "description"}
    text = client.get("/service_at_locations?per_page=100").get_data(as_text=True)
    assert "51.015" not in text and text.count("1 High Street") == 4
    near = client.get("/service_at_locations?postcode=TA1 1AA&proximity=2000").get_json()
    assert "Safe housing support" not in [i["service"]["name"] for i in near["contents"]]


def test_open_data_headers_and_no_sign_in(app, directory):
    client = app.test_client()
    for path in ("/", "/services", f"/services/{directory.ids['debt']}", "/service_at_locations", "/taxonomies",
                 "/taxonomy_terms", "/services?page=0", "/services/nope"):
        response = client.get(path)
        assert response.headers["Access-Control-Allow-Origin"] == "*", path
        assert response.status_code in (200, 400, 404), path
    for path in ("/find", "/partner", "/manage/services", "/healthz"):  # not the open feed: no other site's scripts
        assert "Access-Control-Allow-Origin" not in client.get(path).headers, path


def test_feed_readers_revalidate_with_the_etag_and_see_changes(app, directory):
    from tests.services.directory.conftest import ORG_A, token_for

    client = app.test_client()
    first = client.get("/services?per_page=100")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache" and "ETag" in first.headers["Access-Control-Expose-Headers"]
    unchanged = client.get("/services?per_page=100", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["Access-Control-Allow-Origin"] == "*"
    renamed = client.patch(f"/manage/services/{directory.ids['debt']}", json={"name": "Money advice, Bridgwater"},
                           headers=token_for(app, "org_admin", ORG_A))
    assert renamed.status_code == 200
    changed = client.get("/services?per_page=100", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "Money advice, Bridgwater" in names(changed)
    assert "ETag" not in client.get("/services?page=0").headers  # problems are not cached


def test_each_filter_alone_and_all_combined(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    known = build_directory(app)
    client = app.test_client()
    get = lambda query: sorted(names(client.get("/services?per_page=100&" + query)))  # noqa: E731
    assert get(f"taxonomy_term_id={known.terms['debt']}") == ["Debt and money advice, Bridgwater"]
    # a parent term is its own term: the cafe and the counselling service are both tagged mental-health
    assert get(f"taxonomy_term_id={known.terms['mental-health']}") == ["Taunton counselling service",
                                                                     "Wellbeing cafe, Taunton"]
    taxonomy = client.get("/taxonomies").get_json()["contents"][0]["id"]
    assert len(get(f"taxonomy_id={taxonomy}")) == 6
    assert get("minimum_age=18") == ["Digital skills for work, online", "Taunton counselling service",
                                     "Wellbeing cafe, Taunton"]
    assert get("maximum_age=30") == ["Young people's job club, Yeovil"]
    assert get("day=WE") == ["Taunton counselling service", "Young people's job club, Yeovil"]
    assert get("day=saturday") == ["Wellbeing cafe, Taunton"]
    # ORUK: start_time "a start time of at least", end_time "an end time equal to or below" (one session)
    assert get("start_time=13:00") == ["Digital skills for work, online", "Young people's job club, Yeovil"]
    assert get("start_time=10:00") == ["Debt and money advice, Bridgwater", "Digital skills for work, online",
                                       "Wellbeing cafe, Taunton", "Young people's job club, Yeovil"]
    assert get("end_time=14:00") == ["Debt and money advice, Bridgwater", "Wellbeing cafe, Taunton"]
    assert get("start_time=10:00&end_time=17:00") == ["Debt and money advice, Bridgwater", "Wellbeing cafe, Taunton"]
    assert get("start_time=09:00&end_time=17:00&day=WE") == ["Taunton counselling service"]
    # the extension open_at: open at that moment
    assert get("open_at=18:30") == ["Digital skills for work, online", "Young people's job club, Yeovil"]
    assert get("open_at=10:30") == ["Debt and money advice, Bridgwater", "Safe housing support",
                                    "Taunton counselling service", "Wellbeing cafe, Taunton"]
    assert get("open_at=10:30&day=MO") == ["Safe housing support", "Taunton counselling service"]
    assert get("search=counselling") == ["Debt and money advice, Bridgwater", "Taunton counselling service"]
    assert get("age=20") == ["Debt and money advice, Bridgwater", "Digital skills for work, online",
                             "Safe housing support", "Taunton counselling service", "Wellbeing cafe, Taunton",
                             "Young people's job club, Yeovil"]
    assert get("free=false") == ["Wellbeing cafe, Taunton"]
    assert get("delivery=online") == ["Digital skills for work, online"]
    assert get("lat=51.0146&lon=-3.1029&radius=1000") == ["Taunton counselling service", "Wellbeing cafe, Taunton"]
    combined = ("search=anxiety&taxonomy_term_id={t}&taxonomy_id={x}&minimum_age=18&day=MO&start_time=09:00"
                "&end_time=17:00&open_at=12:00&lat=51.0146&lon=-3.1029&radius=500").format(t=known.terms["counselling"], x=taxonomy)
    assert get(combined) == ["Taunton counselling service"]
    assert get(combined.replace("day=MO", "day=TU")) == []
    sal = client.get(f"/service_at_locations?per_page=100&day=TU&taxonomy_term_id={known.terms['debt']}").get_json()
    assert [i["service"]["name"] for i in sal["contents"]] == ["Debt and money advice, Bridgwater"]


def test_pagination_edges(app, directory):
    client = app.test_client()
    first = client.get("/services?per_page=4").get_json()
    assert_page(first, total=6, page=1, size=4, pages=2)
    last = client.get("/services?per_page=4&page=2").get_json()
    assert_page(last, total=6, page=2, size=2, pages=2)
    assert not {i["id"] for i in first["contents"]} & {i["id"] for i in last["contents"]}
    exact = client.get("/services?per_page=6").get_json()
    assert_page(exact, total=6, page=1, size=6, pages=1)
    nothing = client.get("/services?search=zzzzqqq").get_json()
    assert_page(nothing, total=0, page=1, size=0, pages=1)
    for empty_and_past in ("/services?search=zzzzqqq&page=2",
                           "/service_at_locations?postcode=TA1+1AA&proximity=1&page=2"):
        assert client.get(empty_and_past).get_json()["errors"] == [
            {"location": "query", "pointer": "/page", "detail": "page 2 is past the last page (1)."}]
    past = client.get("/services?per_page=4&page=3")
    assert past.status_code == 400
    assert past.get_json()["errors"] == [{"location": "query", "pointer": "/page",
                                          "detail": "page 3 is past the last page (2)."}]
    one = client.get("/taxonomy_terms?per_page=5&page=4").get_json()  # the demo's 17 terms: a last page of 2
    assert_page(one, total=17, page=4, size=2, pages=4)


def test_search_results_page_in_rank_order_with_exact_totals(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    known = build_directory(app)
    client = app.test_client()
    ranked = names(client.get("/services?search=mental+health"))
    assert len(ranked) == 2
    pages = [client.get(f"/services?search=mental+health&per_page=1&page={n}").get_json() for n in (1, 2)]
    for number, body in enumerate(pages, start=1):  # full pages: the total is counted, not inferred
        assert_page(body, total=2, page=number, size=1, pages=2)
    assert [p["contents"][0]["name"] for p in pages] == ranked
    part_filled = client.get("/services?search=mental+health&per_page=5").get_json()
    assert_page(part_filled, total=2, page=1, size=2, pages=1)
    past = client.get("/services?search=mental+health&per_page=1&page=3")
    assert past.get_json()["errors"][0]["detail"] == "page 3 is past the last page (2)."
    faceted = client.get(f"/services?search=mental+health&taxonomy_term_id={known.terms['counselling']}&per_page=1")
    assert_page(faceted.get_json(), total=1, page=1, size=1, pages=1)
    assert names(faceted) == ["Taunton counselling service"]
    # Services at their locations rank and page the same way (both have one location).
    at = [client.get(f"/service_at_locations?search=mental+health&per_page=1&page={n}").get_json() for n in (1, 2)]
    for number, body in enumerate(at, start=1):
        assert_page(body, total=2, page=number, size=1, pages=2)
    assert [p["contents"][0]["service"]["name"] for p in at] == ranked


def test_ranking_puts_the_obvious_best_match_first(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    build_directory(app)
    client = app.test_client()
    assert names(client.get("/services?search=counselling"))[0] == "Taunton counselling service"
    assert names(client.get("/services?search=counseling"))[0] == "Taunton counselling service"  # US spelling
    assert names(client.get("/services?search=conselling"))[0] == "Taunton counselling service"  # near-miss
    assert names(client.get("/services?search=debt advice")) == ["Debt and money advice, Bridgwater"]
    # "mental health" and "wellbeing" find each other
    assert set(names(client.get("/services?search=mental health"))) == {"Wellbeing cafe, Taunton",
                                                                       "Taunton counselling service"}
    assert names(client.get("/services?search=wellbeing"))[0] == "Wellbeing cafe, Taunton"
    assert names(client.get("/services?search=CV job"))[0] == "Young people's job club, Yeovil"


def test_proximity_orders_by_distance_from_the_postcode(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    build_directory(app)
    client = app.test_client()
    body = client.get("/service_at_locations?postcode=ta11aa&proximity=50000").get_json()
    rows = [(i["service"]["name"], i["location"]["distance"]) for i in body["contents"]]
    assert [r[0] for r in rows] == ["Taunton counselling service", "Wellbeing cafe, Taunton",
                                    "Debt and money advice, Bridgwater", "Young people's job club, Yeovil"]
    distances = [r[1] for r in rows]
    assert distances[0] == 0 and 700 < distances[1] < 900 and 12_000 < distances[2] < 16_000
    assert 33_000 < distances[3] < 38_000
    paged = [client.get(f"/service_at_locations?postcode=ta11aa&proximity=50000&per_page=3&page={n}").get_json()
             for n in (1, 2)]
    assert_page(paged[1], total=4, page=2, size=1, pages=2)
    assert [(i["service"]["name"], i["location"]["distance"]) for p in paged for i in p["contents"]] == rows
    near = client.get("/service_at_locations?postcode=TA1 1AA&proximity=20000").get_json()
    assert near["total_items"] == 3
    by_distance = client.get("/services?lat=50.9420&lon=-2.6330&sort=distance").get_json()
    assert [i["name"] for i in by_distance["contents"]][0] == "Young people's job club, Yeovil"
    # Without a radius: every service with a public location, nearest first, paged in that order;
    # the online-only service has no distance and the refuge's confidential address gives none.
    first = client.get("/services?lat=51.0146&lon=-3.1029&per_page=2").get_json()
    second = client.get("/services?lat=51.0146&lon=-3.1029&per_page=2&page=2").get_json()
    assert first["total_items"] == 4
    assert [(i["name"], i["distance"]) for i in first["contents"] + second["contents"]] == [
        (name, round(metres)) for name, metres in rows]
    by_words = client.get("/services?search=counselling&lat=51.0146&lon=-3.1029").get_json()["contents"]
    assert by_words[0]["name"] == "Taunton counselling service" and by_words[0]["distance"] == 0


def directory_with_one_organisation(database_url, tmp_path):
    """An empty directory with the demo taxonomy and organisation ORG_A: its client and an alliance admin's headers."""
    app = make_app(database_url, tmp_path)
    client, admin = app.test_client(), token_for(app, "alliance_admin")
    with app.extensions["worklink"].database.transaction() as session:
        demo.ensure_taxonomy(session)
    organisation = {"id": str(ORG_A), "name": "Somerset Working Well", "description": "Employment support."}
    assert client.post("/manage/organizations", json=organisation, headers=admin).status_code == 201
    return client, admin


def test_nearest_first_without_a_radius_pages_every_located_service_in_true_distance_order(database_url, tmp_path):
    """Near ones are looked for in growing rings first; near or far, every page must be the
    exhaustive order's page, and the total every service with a public location."""
    client, admin = directory_with_one_organisation(database_url, tmp_path)
    centre = (51.0146, -3.1029)
    kilometres = [0.4, 1.5, 1.9, 3, 7, 12, 25, 40, 90, 150, 400]  # inside, across and beyond every ring
    for number, km in enumerate(kilometres):
        lat = centre[0] + km / 111.2 * (1 if number % 2 else -1)  # north and south, degrees of latitude
        body = service_body(ORG_A, f"Service {km} km away", ["debt"], lat=lat, lon=centre[1])
        assert client.post("/manage/services", json=body, headers=admin).status_code == 201
    hidden = service_body(ORG_A, "Refuge", ["debt"], lat=centre[0], lon=centre[1], confidential=True)
    online = service_body(ORG_A, "Online only", ["debt"])
    for body in (hidden, online):
        assert client.post("/manage/services", json=body, headers=admin).status_code == 201
    expected = [f"Service {km} km away" for km in kilometres]
    for per_page in (1, 2, 3, 5, 11):
        pages = -(-len(expected) // per_page)
        got = []
        for number in range(1, pages + 1):
            body = client.get(f"/services?lat={centre[0]}&lon={centre[1]}&per_page={per_page}&page={number}").get_json()
            assert_page(body, total=len(expected), page=number, size=min(per_page, len(expected) - len(got)),
                        pages=pages)
            got += [(item["name"], item["distance"]) for item in body["contents"]]
        assert [name for name, _ in got] == expected, per_page
        assert all(abs(metres - km * 1000) < 0.01 * km * 1000 + 5 for (_, metres), km in zip(got, kilometres))
    debt = client.get(f"/services?lat={centre[0]}&lon={centre[1]}&per_page=2&taxonomy_term_id={demo.term_id('debt')}")
    assert names(debt) == expected[:2] and debt.get_json()["total_items"] == len(expected)


def test_within_a_radius_nearest_first_lists_each_service_once_by_its_nearest_public_location(database_url, tmp_path):
    """lat/lon/radius, ordered by distance: a service with locations inside and outside the radius is listed once, at
    the inside one; one with only a far location, or only a confidential one within it, is not listed at all."""
    client, admin = directory_with_one_organisation(database_url, tmp_path)
    centre = (51.0146, -3.1029)

    def north(km: float) -> float:
        return centre[0] + km / 111.2

    two_places = service_body(ORG_A, "Two places", ["debt"], lat=north(40), lon=centre[1])
    two_places["locations"].append({**two_places["locations"][0], "name": "Near office", "latitude": north(3)})
    bodies = [two_places, service_body(ORG_A, "Near", ["debt"], lat=north(1), lon=centre[1]),
              service_body(ORG_A, "Far", ["debt"], lat=north(9), lon=centre[1]),
              service_body(ORG_A, "Refuge", ["debt"], lat=north(0.5), lon=centre[1], confidential=True)]
    for body in bodies:
        assert client.post("/manage/services", json=body, headers=admin).status_code == 201
    at = f"lat={centre[0]}&lon={centre[1]}&radius=5000"
    for query in (at, at + "&sort=distance", at + f"&taxonomy_term_id={demo.term_id('debt')}"):
        body = client.get(f"/services?{query}").get_json()
        assert_page(body, total=2, page=1, size=2, pages=1)
        assert [(i["name"], round(i["distance"], -2)) for i in body["contents"]] == [("Near", 1000), ("Two places", 3000)]
    paged = [client.get(f"/services?{at}&per_page=1&page={n}").get_json() for n in (1, 2)]
    assert [p["contents"][0]["name"] for p in paged] == ["Near", "Two places"]
    assert all(p["total_items"] == 2 for p in paged)
    assert names(client.get(f"/services?{at}&sort=name")) == ["Near", "Two places"]


def test_list_items_are_the_services_summaries_with_every_field(app, directory):
    """The list loads a page's services as plain records (queries._summaries_in_order): each item is what
    oruk.service_summary makes of the stored service, every optional field and the organisation included."""
    from datetime import date

    import sqlalchemy as sa

    from worklink_directory import oruk
    from worklink_directory.models import Service

    database = app.extensions["worklink"].database
    with database.transaction() as session:
        session.execute(sa.update(Service).where(Service.id == uuid.UUID(directory.ids["cafe"])).values(
            url="https://cafe.example", email="cafe@example.org", alert="Closed in August.",
            assured_date=date(2026, 10, 1), assurer_email="checks@example.org", maximum_age=99))
    client = app.test_client()
    for query in ("per_page=100", "search=wellbeing", "lat=51.0146&lon=-3.1029&radius=5000", "sort=last_reviewed"):
        items = client.get(f"/services?{query}").get_json()["contents"]
        with database.sessions() as session:
            expected = [oruk.service_summary(session.get(Service, uuid.UUID(i["id"]))) for i in items]
        assert [{k: v for k, v in i.items() if k != "distance"} for i in items] == expected, query
    listed = client.get("/services?per_page=100").get_json()["contents"]
    cafe = next(i for i in listed if i["id"] == directory.ids["cafe"])
    assert cafe["alert"] == "Closed in August." and cafe["organization"]["name"] == "Somerset Working Well"


def test_sort_by_last_reviewed(app, directory):
    client = app.test_client()
    headers = {"Authorization": __import__("tests.services.directory.conftest", fromlist=["x"]).token_for(
        app, "alliance_admin")["Authorization"]}
    assert client.post(f"/manage/services/{directory.ids['debt']}/assure", json={}, headers=headers).status_code == 200
    assert names(client.get("/services?sort=last_reviewed"))[0] == "Debt and money advice, Bridgwater"

# Fixed, not uuid4(): parametrized ids must be the same in every pytest-xdist worker's collection.
UNKNOWN_TAXONOMY_ID = "6f1c2a0e-5b7d-4c3e-9a1f-0d2b3c4e5f60"


@pytest.mark.parametrize("query, pointer", [
    ("page=0", "/page"), ("page=abc", "/page"), ("page=1.5", "/page"), ("per_page=0", "/per_page"),
    ("per_page=101", "/per_page"), ("taxonomy_id=not-a-uuid", "/taxonomy_id"),
    (f"taxonomy_id={UNKNOWN_TAXONOMY_ID}", "/taxonomy_id"),
    (f"taxonomy_term_id={UNKNOWN_TAXONOMY_ID}", "/taxonomy_term_id"),
    ("taxonomy_term_id=x", "/taxonomy_term_id"), ("minimum_age=old", "/minimum_age"), ("maximum_age=-1", "/maximum_age"),
    ("day=someday", "/day"), ("start_time=25:00", "/start_time"), ("end_time=9am", "/end_time"),
    ("open_at=9.30", "/open_at"),
    ("start_time=12:00&end_time=11:00", "/end_time"), ("search=" + "x" * 201, "/search"),
    ("lat=91&lon=0", "/lat"), ("lat=50", "/lon"), ("radius=100", "/radius"), ("sort=random", "/sort"),
    ("sort=distance", "/sort"), ("sort=relevance", "/sort"), ("age=x", "/age"), ("free=maybe", "/free"),
    ("delivery=pigeon", "/delivery"),
])
def test_bad_services_parameters_are_400_problems(app, directory, query, pointer):
    response = app.test_client().get("/services?" + query)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert pointer in [e["pointer"] for e in response.get_json()["errors"]]


@pytest.mark.parametrize("query, pointer", [
    ("postcode=NOTAPOSTCODE", "/postcode"), ("postcode=ZZ9 9ZZ", "/postcode"), ("proximity=1000", "/proximity"),
    ("postcode=TA1 1AA&proximity=-5", "/proximity"), ("postcode=TA1 1AA&proximity=far", "/proximity"),
    ("postcode=TA1 1AA&proximity=20000&page=2", "/page"),
])
def test_bad_service_at_location_parameters_are_400_problems(app, directory, query, pointer):
    response = app.test_client().get("/service_at_locations?" + query)
    assert response.status_code == 400
    assert [e["pointer"] for e in response.get_json()["errors"]] == [pointer]


def test_unknown_ids_are_404_problems(app, directory):
    client = app.test_client()
    for path in ("/services/", "/service_at_locations/", "/taxonomies/", "/taxonomy_terms/"):
        for raw in (str(uuid.uuid4()), "not-a-uuid"):
            response = client.get(path + raw)
            assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_openapi_marks_the_extensions(app):
    spec = app.test_client().get("/openapi.json").get_json()
    params = {p["name"]: p for p in spec["paths"]["/services"]["get"]["parameters"]}
    assert {n for n, p in params.items() if p.get("x-extension")} == {"lat", "lon", "radius", "sort", "age", "free",
                                                                      "delivery", "open_at"}
    assert "x-extension" not in params["search"] and "x-extension" not in params["start_time"]
    assert params["start_time"]["description"].startswith("Services with a start time of at least")
    sal = {p["name"] for p in spec["paths"]["/service_at_locations"]["get"]["parameters"]}
    assert {"postcode", "proximity"} <= sal


def test_an_empty_query_parameter_is_read_as_left_out_as_the_document_says(app, directory):
    """A search form's blank box sends `?taxonomy_term_id=&per_page=`: that is no filter and the default page, and
    the document says empty values are allowed (schemathesis found them answered while the document had a uuid,
    an integer)."""
    client = app.test_client()
    spec = client.get("/openapi.json").get_json()
    for path in ("/services", "/service_at_locations", "/taxonomies", "/taxonomy_terms"):
        assert all(p["allowEmptyValue"] for p in spec["paths"][path]["get"]["parameters"]), path
    everything = client.get("/services").get_json()
    blank = client.get("/services?taxonomy_term_id=&per_page=&page=&search=&age=").get_json()
    assert blank["total_items"] == everything["total_items"] > 0 and blank["size"] == everything["size"]


def test_every_read_answers_as_the_openapi_document_says(app, directory):
    """The document is the contract: each 200 is described (the vendored ORUK schemas, as components), and what
    the service sends validates against that description."""
    from jsonschema import Draft202012Validator, FormatChecker

    client = app.test_client()
    spec = client.get("/openapi.json").get_json()

    def problems(template: str, body) -> list[str]:
        schema = spec["paths"][template]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": spec["components"]}, format_checker=FormatChecker())
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]

    def first_id(path: str) -> str:
        return client.get(path).get_json()["contents"][0]["id"]

    urls = {"/": "/", "/services": "/services?per_page=100",
            "/services/{service_id}": f"/services/{directory.ids['jobclub']}",
            "/service_at_locations": "/service_at_locations?postcode=TA1 1AA",
            "/service_at_locations/{sal_id}": f"/service_at_locations/{first_id('/service_at_locations')}",
            "/taxonomies": "/taxonomies", "/taxonomies/{taxonomy_id}": f"/taxonomies/{first_id('/taxonomies')}",
            "/taxonomy_terms": "/taxonomy_terms",
            "/taxonomy_terms/{term_id}": f"/taxonomy_terms/{first_id('/taxonomy_terms')}"}
    for template, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert problems(template, response.get_json()) == [], url
    assert spec["components"]["schemas"]["OrukService"]["required"]  # a real description, which can be broken:
    assert problems("/services/{service_id}", {"id": 5, "name": None}) != []
    assert problems("/", {"version": "HSDS-UK-3.0"}) != []
    assert problems("/taxonomies", {"contents": [{"id": "x"}]}) != []
