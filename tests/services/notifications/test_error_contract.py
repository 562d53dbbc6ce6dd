"""Every notifications route keeps the error contract (tests/error_contract.py) whatever it is sent, on SQLite
and PostgreSQL: never a 500, problem+json to programs, an error page to people."""

from __future__ import annotations

import pytest

from worklink.config import Settings
from worklink.migrations import upgrade

from tests.error_contract import (AUDIT_FORM_IN_CLEAR, MUTATIONS, contract_breaches, page_answer,
                                  query_parameter_breaches, refused_form_problem, role_headers)
from tests.services.notifications.support import SPEC

ORGANISATION = "00000000-0000-4000-8000-00000000b001"


def notifications_app(database_url: str, tmp_path):
    upgrade(SPEC.migrations_dir, database_url)
    settings = Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_ENV": "test",
                                                   "NOTIFICATIONS_DATABASE_URL": database_url})
    return SPEC.create_app(settings=settings)


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_route_keeps_the_error_contract(database_url, tmp_path, mutation):
    breaches = contract_breaches(notifications_app(database_url, tmp_path), ORGANISATION, mutation)
    assert not breaches, "\n".join(breaches)


def test_every_documented_query_parameter_at_its_extremes_keeps_the_error_contract(database_url, tmp_path):
    breaches = query_parameter_breaches(notifications_app(database_url, tmp_path), ORGANISATION)
    assert not breaches, "\n".join(breaches)


def test_an_organisation_id_longer_than_any_stored_is_a_404_on_both_engines(database_url, tmp_path):
    """Organisation ids are at most 64 characters (the column's size): PostgreSQL refused a longer one from the
    path when a contact was added for it (a 500) while SQLite stored it."""
    app = notifications_app(database_url, tmp_path)
    admin = role_headers(app, ORGANISATION)["alliance_admin"]
    path = f"/organisations/{'x' * 65}/contacts"
    added = app.test_client().post(path, json={"email": "lead@a.example", "purpose": "lead"}, headers=admin)
    assert added.status_code == 404 and added.mimetype == "application/problem+json"
    assert app.test_client().get(path, headers=admin).status_code == 404
    longest = f"/organisations/{'x' * 64}/contacts"
    assert app.test_client().post(longest, json={"email": "lead@a.example"}, headers=admin).status_code == 201


def test_a_page_form_it_refuses_is_problem_json_to_a_program_asking_for_json(database_url, tmp_path):
    """A program posting a page's form (asking for JSON) was handed the refused form, in HTML: it gets the
    page's status as problem+json, each message pointing at its field; a browser still gets the form again."""
    app = notifications_app(database_url, tmp_path)
    program = page_answer(app, ORGANISATION, "alliance_admin", "POST", "/audit", data=AUDIT_FORM_IN_CLEAR)
    problem = refused_form_problem(program, 400)
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("form", "/record")]
    browser = page_answer(app, ORGANISATION, "alliance_admin", "POST", "/audit", data=AUDIT_FORM_IN_CLEAR,
                          accept="text/html")
    assert browser.status_code == 400 and browser.mimetype == "text/html"
    assert 'href="#record"' in browser.get_data(as_text=True)
