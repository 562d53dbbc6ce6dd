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
