"""Web conventions: RFC 9457 problem details, request ids, body limits, media types."""

from __future__ import annotations

import json
import logging

import pytest
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from worklink.audit import person_record
from worklink.auth import mint_token, requires
from worklink.config import ConfigError, Settings
from worklink.db import NAMING_CONVENTION, platform_tables
from worklink.logs import JsonFormatter
from worklink.web import Problem, create_service_app

import sqlalchemy as sa

PROBLEM = "application/problem+json"


class ReferralIn(Schema):
    person_id = fields.UUID(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=3))
    contact = fields.Nested(Schema.from_dict({"email": fields.Email(required=True)}), required=True)


blp = Blueprint("things", __name__)


@blp.route("/things")
class Things(MethodView):
    @requires("gp", "adviser")
    @blp.arguments(ReferralIn)
    @blp.response(201, ReferralIn)
    def post(self, body):
        return body


@blp.route("/things/<uuid:thing_id>")
class Thing(MethodView):
    @blp.response(200)
    def get(self, thing_id):
        raise Problem(404, f"No thing {thing_id}.")

    @blp.response(200)
    def put(self, thing_id):
        raise Problem(409, "The thing changed since you read it (version 3, you sent 2).", current_version=3)


@pytest.fixture()
def settings(tmp_path):
    return Settings.from_env("testsvc", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_MAX_BODY_BYTES": "2048"})


@pytest.fixture()
def client(settings):
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, api = create_service_app("testsvc", __name__, tables=tables, title="Test", description="Test service",
                                  settings=settings)
    api.register_blueprint(blp)
    return app.test_client()


@pytest.fixture()
def gp_token(settings):
    return mint_token(settings.jwt, role="gp", org="practice-1")


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


VALID = {"person_id": "9f1c2f9e-8f6a-4a53-9bde-3b1f5f0f5a11", "reason": "back pain", "contact": {"email": "a@b.uk"}}


def test_valid_request_succeeds(client, gp_token):
    response = client.post("/things", json=VALID, headers=auth(gp_token))
    assert response.status_code == 201
    assert response.get_json()["reason"] == "back pain"


def test_400_for_malformed_json(client, gp_token):
    response = client.post("/things", data='{"reason": ', content_type="application/json", headers=auth(gp_token))
    problem = assert_problem(response, 400)
    # says what is wrong, not "1 field(s) failed validation" (no field was read)
    assert problem["detail"] == "Invalid JSON body."
    assert problem["errors"] == [{"location": "json", "pointer": "", "detail": "Invalid JSON body."}]


def test_422_lists_every_invalid_field_with_a_pointer(client, gp_token):
    bad = {"person_id": "nope", "reason": "x", "contact": {"email": "not-an-email"}, "extra": 1}
    body = assert_problem(client.post("/things", json=bad, headers=auth(gp_token)), 422)
    pointers = {error["pointer"]: error for error in body["errors"]}
    assert set(pointers) == {"/person_id", "/reason", "/contact/email", "/extra"}
    assert all(error["location"] == "json" for error in body["errors"])
    assert "UUID" in pointers["/person_id"]["detail"]


def test_404_for_unknown_route_and_for_missing_record(client):
    assert_problem(client.get("/nowhere"), 404)
    body = assert_problem(client.get("/things/9f1c2f9e-8f6a-4a53-9bde-3b1f5f0f5a11"), 404)
    assert body["detail"] == "No thing 9f1c2f9e-8f6a-4a53-9bde-3b1f5f0f5a11."
    assert body["instance"] == "/things/9f1c2f9e-8f6a-4a53-9bde-3b1f5f0f5a11"


def test_405_names_the_allowed_methods(client, gp_token):
    response = client.delete("/things", headers=auth(gp_token))
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_409_carries_extension_members(client):
    body = assert_problem(client.put("/things/9f1c2f9e-8f6a-4a53-9bde-3b1f5f0f5a11"), 409)
    assert body["current_version"] == 3


def test_413_for_a_body_over_the_limit(client, gp_token):
    huge = {**VALID, "reason": "x" * 5000}
    body = assert_problem(client.post("/things", json=huge, headers=auth(gp_token)), 413)
    assert "2048" in body["detail"]


def test_415_for_a_body_that_is_not_json(client, gp_token):
    response = client.post("/things", data="reason=back+pain", content_type="application/x-www-form-urlencoded",
                           headers=auth(gp_token))
    assert_problem(response, 415)


def test_500_is_a_problem_without_internals(settings):
    tables = platform_tables(sa.MetaData())
    app, _ = create_service_app("testsvc", __name__, tables=tables, title="T", description="T", settings=settings)

    @app.get("/boom")
    def boom():
        raise KeyError("secret internals")

    body = assert_problem(app.test_client().get("/boom"), 500)
    assert "secret" not in json.dumps(body)


def test_a_database_outage_is_a_503_to_send_again(tmp_path):
    from worklink.devstack import free_port

    closed = f"postgresql+psycopg://nobody:nothing@127.0.0.1:{free_port()}/none"  # nothing listens there
    settings = Settings.from_env("testsvc", {"WORKLINK_VAR": str(tmp_path), "TESTSVC_DATABASE_URL": closed})
    app, _ = create_service_app("testsvc", __name__, tables=platform_tables(sa.MetaData()), title="T",
                                description="T", settings=settings)

    @app.post("/save")
    def save():
        with app.extensions["worklink"].database.transaction() as session:
            session.execute(sa.text("SELECT 1"))
        return {}

    response = app.test_client().post("/save", json={})
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5" and "nothing was changed" in body["detail"]
    assert "nobody" not in json.dumps(body)  # no connection details


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_log_lines_are_json_with_the_request_id(client, caplog):
    caplog.set_level(logging.INFO, logger="worklink.http")
    client.get("/things/9f1c2f9e-8f6a-4a53-9bde-3b1f5f0f5a11", headers={"X-Request-ID": "req-42"})
    records = [r for r in caplog.records if r.name == "worklink.http"]
    line = json.loads(JsonFormatter("testsvc").format(records[-1]))
    assert line["request_id"] == "req-42"
    assert line["status"] == 404 and line["service"] == "testsvc" and line["level"] == "info"


# --- organisation scope and audit ------------------------------------------------------

people = Blueprint("people", __name__)
PEOPLE = {"7d0f1a52-1111-4e7e-9a52-5d6f0c3c0a01": {"owner": "org-a", "name": "Sam Taylor"}}


@people.route("/people/<person_id>")
@person_record("person", "person_id")
class Person(MethodView):
    @requires("adviser", "alliance_admin")
    @people.response(200)
    def get(self, person_id):
        from worklink.auth import require_organisation
        from worklink.web import service_context

        record = PEOPLE.get(person_id) or _missing(person_id)
        require_organisation(record["owner"])
        ctx = service_context()
        with ctx.database.transaction() as session:
            ctx.audit.record(session, action="read", resource_type="person", resource_id=person_id,
                             person_id=person_id, purpose="case work")
        return {"name": record["name"]}


def _missing(person_id):
    raise Problem(404, f"No person {person_id}.")


@pytest.fixture()
def people_app(settings):
    tables = platform_tables(sa.MetaData(naming_convention=NAMING_CONVENTION))
    app, api = create_service_app("testsvc", __name__, tables=tables, title="T", description="T", settings=settings)
    api.register_blueprint(people)
    tables.audit_log.metadata.create_all(app.extensions["worklink"].database.engine)
    return app


def audit_rows(app):
    ctx = app.extensions["worklink"]
    with ctx.database.engine.connect() as conn:
        return [row._asdict() for row in conn.execute(sa.select(ctx.tables.audit_log))]


def test_reads_are_scoped_to_the_owning_organisation_and_audited(people_app, settings):
    client = people_app.test_client()
    person = "7d0f1a52-1111-4e7e-9a52-5d6f0c3c0a01"
    own = mint_token(settings.jwt, role="adviser", org="org-a", subject="adviser-1")
    other = mint_token(settings.jwt, role="adviser", org="org-b", subject="adviser-2")
    admin = mint_token(settings.jwt, role="alliance_admin", subject="admin-1")

    assert client.get(f"/people/{person}", headers=auth(own) | {"X-Request-ID": "r-1"}).status_code == 200
    assert_problem(client.get(f"/people/{person}", headers=auth(other)), 403)
    assert client.get(f"/people/{person}", headers=auth(admin)).status_code == 200

    rows = audit_rows(people_app)
    assert [(r["action"], r["actor"], r["actor_role"], r["actor_org"]) for r in rows] == [
        ("read", "adviser-1", "adviser", "org-a"), ("denied", "adviser-2", "adviser", "org-b"),
        ("read", "admin-1", "alliance_admin", None)]
    assert rows[0]["person_id"] == person and rows[0]["request_id"] == "r-1"
    assert rows[0]["purpose"] == "case work"


def test_refused_attempts_at_a_persons_record_are_audited_in_their_own_transaction(people_app, settings):
    client = people_app.test_client()
    person, unknown = "7d0f1a52-1111-4e7e-9a52-5d6f0c3c0a01", "0b5e0c1e-2222-4e7e-9a52-5d6f0c3c0a02"
    wrong_role = mint_token(settings.jwt, role="gp", org="org-a", subject="gp-1")
    other_org = mint_token(settings.jwt, role="adviser", org="org-b", subject="adviser-2")

    assert_problem(client.get(f"/people/{person}", headers=auth(wrong_role) | {"X-Request-ID": "r-9"}), 403)
    assert_problem(client.get(f"/people/{unknown}", headers=auth(other_org)), 404)
    assert_problem(client.get(f"/people/{person}"), 401)  # anonymous: nobody to name, the request log has it
    assert_problem(client.get("/people/x", headers={"Authorization": "Bearer forged"}), 401)

    rows = audit_rows(people_app)
    assert [(r["action"], r["actor"], r["resource_type"], r["resource_id"], r["purpose"]) for r in rows] == [
        ("denied", "gp-1", "person", person, "GET /people/<person_id> -> 403"),
        ("denied", "adviser-2", "person", unknown, "GET /people/<person_id> -> 404")]
    assert rows[0]["request_id"] == "r-9" and rows[0]["person_id"] is None


def test_refusals_elsewhere_are_not_person_record_accesses(client, people_app, gp_token):
    assert_problem(client.get("/things/9f1c2f9e-8f6a-4a53-9bde-3b1f5f0f5a11", headers=auth(gp_token)), 404)
    assert_problem(people_app.test_client().get("/nowhere", headers=auth(gp_token)), 404)
    assert audit_rows(people_app) == []


def test_a_refusal_stands_when_its_audit_entry_cannot_be_written(people_app, settings, caplog):
    people_app.extensions["worklink"].tables.audit_log.drop(people_app.extensions["worklink"].database.engine)
    other_org = mint_token(settings.jwt, role="adviser", org="org-b", subject="adviser-2")

    response = people_app.test_client().get("/people/7d0f1a52-1111-4e7e-9a52-5d6f0c3c0a01", headers=auth(other_org))

    assert_problem(response, 403)
    assert "Sam Taylor" not in response.get_data(as_text=True)
    assert [r.msg for r in caplog.records if r.name == "worklink.audit"] == [
        "refused access not audited: database unavailable"]


def test_a_listed_page_of_records_is_audited_in_one_statement(people_app):
    from worklink.auth import Principal

    ctx = people_app.extensions["worklink"]
    statements = []
    sa.event.listen(ctx.database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    reader = Principal("adviser-1", "adviser", "org-a")
    with ctx.database.transaction() as session:
        ctx.audit.record_many(session, action="list", resource_type="person", principal=reader,
                              records=[("p-1", "943 476 5919"), ("p-2", None), ("p-3", "p-3")])
        ctx.audit.record_many(session, action="list", resource_type="person", principal=reader, records=[])

    assert len([s for s in statements if s.startswith("INSERT INTO audit_log")]) == 1
    rows = audit_rows(people_app)
    assert [(r["resource_id"], r["person_id"], r["action"], r["actor"]) for r in rows] == [
        ("p-1", "943 476 5919", "list", "adviser-1"), ("p-2", None, "list", "adviser-1"),
        ("p-3", "p-3", "list", "adviser-1")]
    with pytest.raises(ValueError):
        with ctx.database.transaction() as session:
            ctx.audit.record_many(session, action="peek", resource_type="person", principal=reader, records=[("x", None)])


def app_with_a_secret_link(settings):
    """A service app with one single-use link route, /respond/<token>."""
    tables = platform_tables(sa.MetaData())
    app, _ = create_service_app("testsvc", __name__, tables=tables, title="T", description="T", settings=settings)

    @app.get("/respond/<token>")
    def respond(token):
        return "thanks"
    return app


def test_secret_link_tokens_never_reach_the_logs(settings, caplog):
    app = app_with_a_secret_link(settings)
    caplog.set_level(logging.INFO, logger="worklink.http")
    app.test_client().get("/respond/s3cr3t-single-use-link")
    line = [r for r in caplog.records if r.name == "worklink.http"][-1]
    assert line.path == "/respond/[redacted]" and line.route == "/respond/<token>"
    assert "s3cr3t" not in JsonFormatter().format(line)


def test_a_secret_link_asked_with_a_method_it_does_not_take_is_masked_and_kept_out_of_caches(settings, caplog):
    """A 405 matches no route, so the request had no URL arguments to mask: a POST (or PUT, DELETE) to a single-use
    link wrote its token to the log in clear, and its answer had no no-store or no-referrer."""
    app = app_with_a_secret_link(settings)
    caplog.set_level(logging.INFO, logger="worklink.http")
    for method in ("POST", "DELETE"):
        response = app.test_client().open("/respond/s3cr3t-single-use-link", method=method)
        assert response.status_code == 405
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        line = [r for r in caplog.records if r.name == "worklink.http"][-1]
        assert line.path == "/respond/[redacted]" and line.status == 405
        assert "s3cr3t" not in JsonFormatter().format(line)


def test_a_secret_link_changed_so_that_no_route_matches_is_masked_in_the_log(settings, caplog):
    """A link with a slash or a word added (a mail program, a person copying it) matches no route: there were no
    URL arguments to recognise the token by, and the 404's log line held the single-use link in clear."""
    app = app_with_a_secret_link(settings)
    caplog.set_level(logging.INFO, logger="worklink.http")
    for path in ("/respond/s3cr3t-single-use-link/", "/respond/s3cr3t-single-use-link/thanks", "/wp-login.php"):
        assert app.test_client().get(path).status_code == 404
    paths = [r.path for r in caplog.records if r.name == "worklink.http"]
    assert paths == ["/respond/[redacted]/", "/respond/[redacted]/thanks", "/wp-login.php"]


def test_a_path_naming_a_person_where_no_route_matches_is_masked_in_the_log(settings, caplog):
    """An id's place given an NHS number, an e-mail address, a postcode or a birth date (a client's bug, a person
    typing one into the address bar) matches no route: the 404's log line held it in clear."""
    tables = platform_tables(sa.MetaData())
    app, _ = create_service_app("testsvc", __name__, tables=tables, title="T", description="T", settings=settings)

    @app.get("/people/<uuid:person_id>")
    def person(person_id):
        return "found"

    caplog.set_level(logging.INFO, logger="worklink.http")
    for path in ("/people/9434765919", "/people/943 476 5919/referrals", "/people/jo.bloggs@example.org",
                 "/people/TA1 1AA", "/people/1984-02-29", "/people/find"):
        assert app.test_client().get(path).status_code == 404
    lines = [r for r in caplog.records if r.name == "worklink.http"]
    assert [r.path for r in lines] == ["/people/[redacted]", "/people/[redacted]/referrals", "/people/[redacted]",
                                       "/people/[redacted]", "/people/[redacted]", "/people/find"]
    text = "\n".join(JsonFormatter().format(line) for line in lines)
    # Needles no random request id's hex can spell ("1984" or "5919" alone now and then were).
    assert not [value for value in ("4765919", "476 5919", "476%205919", "bloggs", "1AA", "1984-02")
                if value in text]


def test_a_made_up_http_method_adds_no_metric_of_its_own(settings):
    """Any word is a method to the server (gunicorn takes 3 to 20 capital letters), and each label value is a
    time series the process keeps for ever: a client sending random methods grew every worker's metrics."""
    from prometheus_client import REGISTRY

    app, _ = create_service_app("methodsvc", __name__, tables=platform_tables(sa.MetaData()), title="T",
                                description="T", settings=settings)
    client = app.test_client()
    for method in ("QWERTYUIOP", "ZXCVBNMASD", "GET"):
        client.open("/healthz", method=method)
    methods = {sample.labels["method"] for family in REGISTRY.collect() if family.name == "worklink_http_requests"
               for sample in family.samples if sample.labels.get("service") == "methodsvc"}
    assert methods == {"other", "GET"}


@pytest.mark.parametrize("trusted, expected", [
    ("0", ("127.0.0.1", "http")),     # no proxy of ours: a client cannot pick its own address
    ("1", ("198.51.100.9", "https")),  # behind our proxy: its last hop names the client
])
def test_forwarded_headers_are_believed_only_from_trusted_proxies(tmp_path, trusted, expected):
    settings = Settings.from_env("testsvc", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_TRUSTED_PROXIES": trusted})
    app, _ = create_service_app("testsvc", __name__, tables=platform_tables(sa.MetaData()), title="T",
                                description="T", settings=settings)

    @app.get("/whoami")
    def whoami():
        return {"client": request.remote_addr, "scheme": request.scheme}

    forwarded = {"X-Forwarded-For": "203.0.113.66, 198.51.100.9", "X-Forwarded-Proto": "https"}
    body = app.test_client().get("/whoami", headers=forwarded, environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    assert (body["client"], body["scheme"]) == expected


def test_trusted_proxies_must_be_a_count():
    with pytest.raises(ConfigError, match="WORKLINK_TRUSTED_PROXIES"):
        Settings.from_env("testsvc", {"WORKLINK_TRUSTED_PROXIES": "nginx"})


# --- text that cannot be stored, and caching of personal data --------------------------

@pytest.fixture()
def echo_app(settings):
    return make_echo_app(settings)


@pytest.fixture()
def roomy_echo_app(tmp_path):
    """The echo app taking bodies of up to 64 KB."""
    settings = Settings.from_env("testsvc", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_MAX_BODY_BYTES": "65536"})
    return make_echo_app(settings)


def make_echo_app(settings):
    from worklink.web import accepts_form

    app, _ = create_service_app("testsvc", __name__, tables=platform_tables(sa.MetaData()), title="T",
                                description="T", settings=settings)

    @app.post("/echo")
    @accepts_form
    def echo():
        return {"json": request.get_json(silent=True), "form": request.form.to_dict()}

    @app.get("/search")
    def search():
        return {"q": request.args.get("q")}

    @app.get("/mine")
    @requires()
    def mine():
        return {"yours": True}

    @app.get("/respond/<token>")
    def respond(token):
        return "the employer's page"

    return app


@pytest.mark.parametrize("text", [r"a\u0000b", r"bell \u0007", r"\ud800 alone", r"\udc00"])  # JSON escapes
def test_text_no_database_can_store_is_a_422_naming_each_field(echo_app, text):
    client = echo_app.test_client()
    body = '{"name": "ok", "person": {"given_name": "%s"}, "notes": ["fine", "%s"]}' % (text, text)
    problem = assert_problem(client.post("/echo", data=body, content_type="application/json"), 422)
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [
        ("json", "/person/given_name"), ("json", "/notes/1")]


def test_ordinary_text_passes_the_character_check_untouched(echo_app):
    client = echo_app.test_client()
    text = r"Zoë O'Brien\t(李小龍) \ud83d\ude00\nline two\r\n"  # JSON escapes, a surrogate pair among them
    response = client.post("/echo", data='{"name": "%s"}' % text, content_type="application/json")
    assert response.status_code == 200
    assert response.get_json()["json"] == {"name": "Zoë O'Brien\t(李小龍) \U0001F600\nline two\r\n"}
    form = client.post("/echo", data={"note": "two\nlines\tand a tab"})
    assert form.status_code == 200 and form.get_json()["form"] == {"note": "two\nlines\tand a tab"}


def test_control_characters_in_forms_and_query_strings_are_refused(echo_app):
    client = echo_app.test_client()
    form = client.post("/echo", data="note=a%00b&other=fine", content_type="application/x-www-form-urlencoded")
    assert [(e["location"], e["pointer"]) for e in assert_problem(form, 422)["errors"]] == [("form", "/note")]
    upload = client.post("/echo", data={"note": "a\x01b"}, content_type="multipart/form-data")
    assert [e["pointer"] for e in assert_problem(upload, 422)["errors"]] == ["/note"]
    query = client.get("/search?q=back%00pain")
    assert [(e["location"], e["pointer"]) for e in assert_problem(query, 422)["errors"]] == [("query", "/q")]
    assert client.get("/search?q=back%20pain").get_json() == {"q": "back pain"}


def test_what_a_signed_in_caller_or_a_secret_link_sees_is_not_kept_in_caches(echo_app, settings):
    client = echo_app.test_client()
    token = mint_token(settings.jwt, role="gp", org="practice-1")
    signed_in = client.get("/mine", headers=auth(token))
    assert signed_in.status_code == 200 and signed_in.headers["Cache-Control"] == "no-store"
    refused = client.get("/mine", headers=auth(mint_token(settings.jwt, role="gp", org="practice-1", ttl_seconds=-60)))
    assert refused.status_code == 401 and "Cache-Control" not in refused.headers
    link = client.get("/respond/s3cr3t")
    assert link.headers["Cache-Control"] == "no-store" and link.headers["Referrer-Policy"] == "no-referrer"
    public = client.get("/search?q=debt")
    assert "Cache-Control" not in public.headers and "Referrer-Policy" not in public.headers


@pytest.mark.parametrize("body", ["[" * 1000 + "]" * 1000, '{"a":' * 300 + "1" + "}" * 300])
def test_json_nested_too_deeply_to_parse_is_a_400_not_a_500(echo_app, body):
    """Python's parser gives up (RecursionError: a 500 and a traceback per request) near 1,000
    levels; a 2 KB body must not do that to a public endpoint."""
    problem = assert_problem(echo_app.test_client().post("/echo", data=body, content_type="application/json"), 400)
    assert problem["errors"] == [{"location": "json", "pointer": "", "detail": "Nested more than 32 levels deep."}]


def test_brackets_inside_strings_do_not_count_as_nesting(echo_app):
    text = '[{"note": "' + "[[{{" * 300 + '\\" ]]"}]'
    response = echo_app.test_client().post("/echo", data=text, content_type="application/json")
    assert response.status_code == 200 and response.get_json()["json"][0]["note"].startswith("[[{{")


def test_a_whole_number_too_long_to_read_is_a_422_naming_the_field_not_a_500(roomy_echo_app):
    """json.loads refuses an integer of more than 4,300 digits (Python's guard against slow conversion) with
    a ValueError the JSON parsers of flask-smorest's webargs do not catch: every JSON endpoint answered 500."""
    digits = "9" * 5000
    body = '{"version": 1, "person": {"decile": %s}, "notes": ["%s", %s]}' % (digits, digits, digits)
    client = roomy_echo_app.test_client()
    problem = assert_problem(client.post("/echo", data=body, content_type="application/json"), 422)
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("json", "/person/decile"),
                                                                          ("json", "/notes/1")]
    malformed = '{"version": %s' % digits  # cut off as well: the whole body
    problem = assert_problem(client.post("/echo", data=malformed, content_type="application/json"), 400)
    assert [e["pointer"] for e in problem["errors"]] == [""]


def test_digits_in_strings_and_long_decimals_are_not_whole_numbers_too_long(roomy_echo_app):
    digits = "9" * 5000
    body = '{"note": "%s", "ratio": %s.5}' % (digits, digits)
    response = roomy_echo_app.test_client().post("/echo", data=body, content_type="application/json")
    assert response.status_code == 200 and response.get_json()["json"]["note"] == digits


def test_text_no_database_can_store_in_a_path_is_refused_too(echo_app):
    """PostgreSQL refuses a NUL in a query's parameter: an id read from the path was a 500 there (SQLite found
    no record, a 404), so the engines disagreed."""
    problem = assert_problem(echo_app.test_client().get("/respond/abc%00def"), 422)
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("path", "/token")]
    assert echo_app.test_client().get("/respond/abc%E2%80%94def").status_code == 200  # an em dash is text


def _streamed(client, path: str, body: bytes, content_type: str):
    """A body sent chunked, with no Content-Length, through a server that ends the stream for the app
    (gunicorn sets wsgi.input_terminated): Werkzeug then cuts it at MAX_CONTENT_LENGTH, silently."""
    import io

    return client.post(path, input_stream=io.BytesIO(body), environ_overrides={"wsgi.input_terminated": True},
                       headers={"Transfer-Encoding": "chunked", "Content-Type": content_type})


@pytest.mark.parametrize("body, content_type", [
    (b'{"note": "' + b"x" * 5000 + b'"}', "application/json"),  # was a 400, "Invalid JSON body"
    (b"first=" + b"x" * 5000 + b"&last=kept", "application/x-www-form-urlencoded"),  # was taken, cut: no `last`
])
def test_a_streamed_body_over_the_limit_is_a_413_not_cut_short(echo_app, body, content_type):
    problem = assert_problem(_streamed(echo_app.test_client(), "/echo", body, content_type), 413)
    assert "2048" in problem["detail"]


def test_a_streamed_body_within_the_limit_is_read_whole(echo_app):
    response = _streamed(echo_app.test_client(), "/echo", b'{"note": "' + b"x" * 1000 + b'"}', "application/json")
    assert response.status_code == 200 and response.get_json()["json"] == {"note": "x" * 1000}


@pytest.mark.parametrize("status, name", [(406, "not-acceptable"), (410, "gone"), (412, "precondition-failed"),
                                          (414, "uri-too-long"), (428, "precondition-required"),
                                          (431, "request-header-fields-too-large")])
def test_every_status_a_service_or_its_server_answers_has_a_named_problem_type(echo_app, status, name):
    """A 410 (a used employer link) and a 412 (a directory listing changed since it was read) had the bare
    number as their type, 'problems/412', where every other status has a name a client can switch on."""
    from worklink.problems import problem_response

    with echo_app.test_request_context("/echo"):
        response = problem_response(status, "Detail.")
    assert response.get_json()["type"] == f"https://worklink.example/problems/{name}"
