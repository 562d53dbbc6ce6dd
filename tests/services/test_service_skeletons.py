"""Every service: migrations on SQLite and PostgreSQL, health, readiness, metrics, OpenAPI, docs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from openapi_spec_validator import validate

from worklink.config import Settings
from worklink.db import Database, create_db_engine
from worklink.migrations import managed_objects, upgrade
from worklink.service import installed_services

SERVICES = ["directory", "adjustments", "referrals", "notifications"]


def test_all_four_services_are_installed_with_distinct_ports():
    services = installed_services()
    assert list(services) == SERVICES
    assert [s.default_port for s in services.values()] == [8081, 8082, 8083, 8084]


@pytest.mark.parametrize("name", SERVICES)
def test_migrations_build_exactly_what_the_models_declare(name, database_url):
    spec = installed_services()[name]
    upgrade(spec.migrations_dir, database_url)
    engine = create_db_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": managed_objects(spec.metadata)})
        diff = compare_metadata(context, spec.metadata)
        tables = set(conn.dialect.get_table_names(conn))
    engine.dispose()
    assert {"outbox", "processed_events", "audit_log", "alembic_version"} <= tables
    assert diff == [], f"models and migrations disagree: {diff}"



@pytest.mark.parametrize("name", SERVICES)
def test_each_revision_down_and_up_again_leaves_the_schema_it_found(name, database_url):
    """From head to nothing, one revision at a time: each is downgraded, upgraded again and must leave the schema
    as it was (a table, column, index, partial index's condition, key or constraint its downgrade leaves behind
    or loses shows here, or fails its upgrade), then downgraded for the next. The first revision builds the
    platform tables from today's definitions (worklink.migrations), with indexes a later downgrade may have
    dropped: it must leave nothing behind."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from worklink.migrations import alembic_config

    spec = installed_services()[name]
    config = alembic_config(spec.migrations_dir, database_url)
    upgrade(spec.migrations_dir, database_url)
    for script in ScriptDirectory.from_config(config).walk_revisions():  # head first
        if script.down_revision is None:
            break
        found = schema(database_url)
        command.downgrade(config, "-1")
        upgrade(spec.migrations_dir, database_url, script.revision)
        assert schema(database_url) == found, f"{script.revision} down and up again"
        command.downgrade(config, "-1")
    command.downgrade(config, "base")
    assert schema(database_url) == {}

def schema(url: str) -> dict:
    """Every table's shape as the database reports it (SQLAlchemy's inspector), alembic_version aside."""
    engine = create_db_engine(url)
    inspector = sa.inspect(engine)
    found = {table: {
        "columns": sorted((c["name"], str(c["type"]), c["nullable"], str(c["default"]))
                          for c in inspector.get_columns(table)),
        "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]),
                           sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items()))
                          for i in inspector.get_indexes(table)),
        "unique": sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)),
        "foreign_keys": sorted((f["name"], tuple(f["constrained_columns"]), f["referred_table"],
                                tuple(f["referred_columns"]), str(f["options"]))
                               for f in inspector.get_foreign_keys(table)),
        "primary_key": inspector.get_pk_constraint(table),
        "checks": sorted((c["name"], c["sqltext"]) for c in inspector.get_check_constraints(table)),
    } for table in inspector.get_table_names() if table != "alembic_version"}
    engine.dispose()
    return found

def make_app(name: str, tmp_path, bootstrap: str):
    spec = installed_services()[name]
    env = {"WORKLINK_VAR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "WORKLINK_ENV": "test"}
    settings = Settings.from_env(name, env)
    upgrade(spec.migrations_dir, settings.database_url)
    return spec.create_app(settings=settings)


@pytest.mark.parametrize("name", SERVICES)
def test_operations_endpoints(name, tmp_path, kafka_broker):
    client = make_app(name, tmp_path, kafka_broker.bootstrap_servers).test_client()

    assert client.get("/healthz").get_json() == {"status": "ok", "service": name}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.data
    assert ready.get_json()["checks"] == {"database": "ok", "broker": "ok"}

    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'worklink_http_requests_total{{endpoint="/readyz",method="GET",service="{name}",status="200"}}' in metrics

    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert {"/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert error_media_types(spec) == {"application/problem+json"}  # as every error is sent
    # What the schemas cannot say (schemathesis read a refused control character as a broken contract):
    conventions = spec["info"]["description"].split("**Every service's conventions.**")[1]
    assert "control character" in conventions and "modulus-11" in conventions and "JSON booleans" in conventions
    assert documented_problem_takes_extension_members(spec)
    docs = client.get("/docs")
    assert docs.status_code == 200 and b"/docs/static/swagger-ui-bundle.js" in docs.data
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 200


def test_readiness_reports_an_unreachable_broker_but_stays_ready_as_writes_wait_in_the_outbox(tmp_path):
    from worklink.devstack import free_port

    client = make_app("referrals", tmp_path, f"127.0.0.1:{free_port()}").test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "degraded", "service": "referrals",
                                   "checks": {"database": "ok", "broker": "error: unreachable"}}


def test_readiness_fails_with_a_problem_when_the_database_is_unreachable(tmp_path, kafka_broker):
    from worklink.devstack import free_port

    app = make_app("referrals", tmp_path, kafka_broker.bootstrap_servers)
    app.extensions["worklink"].database = Database(f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/gone")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["checks"]["database"].startswith("error: ")


def test_each_service_uses_its_own_database_url(tmp_path):
    env = {"WORKLINK_VAR": str(tmp_path), "REFERRALS_DATABASE_URL": "postgresql+psycopg://u:p@db/referrals"}
    assert Settings.from_env("referrals", env).database_url == "postgresql+psycopg://u:p@db/referrals"
    assert Settings.from_env("directory", env).database_url == f"sqlite:///{tmp_path / 'directory.db'}"


def documented_problem_takes_extension_members(spec: dict) -> bool:
    """A problem as the services send one, with an extension member (RFC 9457 section 3.2: a stale edit's
    current_version) matches the documented Problem schema: a closed one made a client validating answers against
    the document refuse every such 409."""
    from openapi_schema_validator import OAS30Validator

    schemas = spec["components"]["schemas"]
    problem = {"type": "https://worklink.example/problems/conflict", "title": "Conflict", "status": 409,
               "detail": "It changed since you read it.", "instance": "/things/1", "request_id": "abc",
               "current_version": 3, "allowed_actions": ["cancel"]}
    validator = OAS30Validator({**schemas["Problem"], "components": {"schemas": schemas}})
    return not list(validator.iter_errors(problem))


def error_media_types(spec: dict) -> set[str]:
    """The media types the document gives for every error response (4xx, 5xx, default) of the API: a page it
    documents (adjustments' letter print views, 200 as text/html or a PDF) answers a browser's errors as pages."""
    components = spec.get("components", {}).get("responses", {})
    types = set()
    for operations in spec["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            if set(operation.get("responses", {}).get("200", {}).get("content", {})) & {"text/html", "application/pdf"}:
                errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
                assert all("application/problem+json" in r["content"] for r in errors.values())  # to a program
                continue
            for status, response in operation.get("responses", {}).items():
                if status == "default" or status[0] in "45":
                    if "$ref" in response:
                        response = components[response["$ref"].rsplit("/", 1)[1]]
                    types |= set(response.get("content", {}))
    return types
