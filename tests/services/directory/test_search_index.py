"""The full-text index holds listed services only, on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.services.directory.conftest import ORG_A, build_directory, make_app, token_for
from worklink.db import create_db_engine
from worklink.migrations import upgrade
from worklink.service import installed_services


def index_size(app) -> int:
    with app.extensions["worklink"].database.sessions() as session:
        return session.scalar(sa.text("SELECT count(*) FROM service_search"))


def test_a_listing_leaves_the_index_when_unlisted_and_returns_when_listed_again(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    directory = build_directory(app)
    client, owner, debt = app.test_client(), token_for(app, "org_admin", ORG_A), directory.ids["debt"]
    listed = index_size(app)
    assert client.get("/services?search=arrears").get_json()["total_items"] == 1
    assert client.patch(f"/manage/services/{debt}", json={"status": "inactive"}, headers=owner).status_code == 200
    assert index_size(app) == listed - 1
    assert client.get("/services?search=arrears").get_json()["total_items"] == 0
    assert client.patch(f"/manage/services/{debt}", json={"status": "active"}, headers=owner).status_code == 200
    assert index_size(app) == listed
    assert [s["id"] for s in client.get("/services?search=arrears").get_json()["contents"]] == [debt]


def test_upgrading_rebuilds_the_index_without_the_old_listed_token(database_url, tmp_path):
    """Before directory_0006 every entry carried a "listed" facet and unlisted services stayed in."""
    upgrade(installed_services()["directory"].migrations_dir, database_url, "directory_0005")
    engine = create_db_engine(database_url)
    sqlite = engine.dialect.name == "sqlite"
    org, active, inactive = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    db_id = (lambda value: value.hex) if sqlite else (lambda value: value)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO organization (id, name, description, is_demo) VALUES (:id, 'O', 'O', false)"),
                     {"id": db_id(org)})
        for key, (service_id, status, name) in enumerate(((active, "active", "Riverside listening service"),
                                                          (inactive, "inactive", "Hillside listening service")), 1):
            conn.execute(sa.text(
                "INSERT INTO service (id, organization_id, name, description, status, is_free, delivery_modes, "
                "last_modified, is_demo) VALUES (:id, :org, :name, 'Someone to talk to.', :status, true, "
                "'in_person', CURRENT_TIMESTAMP, false)"),
                {"id": db_id(service_id), "org": db_id(org), "name": name, "status": status})
            conn.execute(sa.text("INSERT INTO search_document (key, service_id) VALUES (:key, :id)"),
                         {"key": key, "id": db_id(service_id)})
            facets = "listed" if status == "active" else ""
            if sqlite:
                conn.execute(sa.text("INSERT INTO service_search (rowid, name, labels, body, facets) "
                                     "VALUES (:key, 'listen servic', '', 'someon talk', :facets)"),
                             {"key": key, "facets": facets})
            else:
                conn.execute(sa.text("INSERT INTO service_search (key, document) VALUES (:key, "
                                     "to_tsvector('simple', 'listen servic someon talk ' || :facets))"),
                             {"key": key, "facets": facets})
    engine.dispose()
    app = make_app(database_url, tmp_path)  # upgrades to head
    assert index_size(app) == 1
    found = app.test_client().get("/services?search=listening").get_json()["contents"]
    assert [s["id"] for s in found] == [str(active)]
    with app.extensions["worklink"].database.sessions() as session:
        text = "facets" if sqlite else "document::text"
        assert "listed" not in session.scalar(sa.text(f"SELECT {text} FROM service_search"))


def _counselling_only(app) -> str:
    """A listing tagged with a sub-category (counselling) and not with its parent (mental health)."""
    from tests.services.directory.conftest import service_body

    body = service_body(ORG_A, "Frome talking therapy", ["counselling"], lat=51.2279, lon=-2.3215,
                        postcode="BA11 1AA", city="Frome", description="Talking therapy for people at work.")
    created = app.test_client().post("/manage/services", json=body, headers=token_for(app, "org_admin", ORG_A))
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def test_a_category_includes_its_sub_categories_in_filters_and_searches(database_url, tmp_path):
    from worklink_directory import demo

    app = make_app(database_url, tmp_path)
    build_directory(app)
    therapy = _counselling_only(app)
    client = app.test_client()
    mental_health, peer_support = demo.term_id("mental-health"), demo.term_id("peer-support")

    def ids(query: str) -> set[str]:
        body = client.get(query).get_json()
        return {item.get("service", item)["id"] for item in body["contents"]}

    assert therapy in ids(f"/services?per_page=100&taxonomy_term_id={mental_health}")  # no words: SQL filter
    assert therapy in ids(f"/services?search=therapy&taxonomy_term_id={mental_health}")  # words: index facets
    assert therapy in ids(f"/service_at_locations?per_page=100&taxonomy_term_id={mental_health}")
    assert therapy in ids(f"/services?per_page=100&taxonomy_term_id={demo.term_id('counselling')}")
    assert therapy not in ids(f"/services?per_page=100&taxonomy_term_id={peer_support}")  # a sibling, not a parent
    assert therapy not in ids(f"/services?search=therapy&taxonomy_term_id={peer_support}")


def test_upgrading_gives_existing_entries_their_terms_ancestors(database_url, tmp_path):
    """Before directory_0007 an entry carried only the terms the listing was tagged with."""
    from worklink.db import Database, utcnow
    from worklink_directory import demo, search
    from worklink_directory.models import Organization, SearchDocument, ServiceTerm

    upgrade(installed_services()["directory"].migrations_dir, database_url, "directory_0006")
    database, service_id = Database(database_url), uuid.uuid4()
    counselling = uuid.UUID(demo.term_id("counselling"))
    with database.transaction() as session:
        demo.ensure_taxonomy(session)
        session.add(Organization(id=ORG_A, name="O", description="O"))
        session.flush()
        # the service table as 0006 had it (today's model has later columns)
        old_service = sa.table("service", sa.column("id", sa.Uuid), sa.column("organization_id", sa.Uuid),
                               *map(sa.column, ("name", "description", "status", "delivery_modes")),
                               sa.column("is_free", sa.Boolean), sa.column("is_demo", sa.Boolean),
                               sa.column("last_modified", sa.DateTime(timezone=True)))
        session.execute(sa.insert(old_service).values(
            id=service_id, organization_id=ORG_A, name="Frome talking therapy", description="Talking therapy.",
            status="active", is_free=True, delivery_modes="in_person", last_modified=utcnow(), is_demo=False))
        session.add(ServiceTerm(service_id=service_id, taxonomy_term_id=counselling))
        session.flush()
        session.add(SearchDocument(key=1, service_id=service_id))
        session.flush()
        search.SearchIndex.for_session(session).replace(session, 1, search.document(  # as 0006 indexed it
            name="Frome talking therapy", description="Talking therapy.", how_to=None,
            labels=["Counselling and talking therapies"], term_ids=[counselling]))
    database.dispose()
    app = make_app(database_url, tmp_path)  # upgrades to head
    found = app.test_client().get(f"/services?search=therapy&taxonomy_term_id={demo.term_id('mental-health')}")
    assert [s["id"] for s in found.get_json()["contents"]] == [str(service_id)]
