"""Every directory route keeps the error contract (tests/error_contract.py) whatever it is sent, on SQLite and
PostgreSQL: never a 500, problem+json to programs, an error page to people."""

from __future__ import annotations

import pytest

from tests.error_contract import (AUDIT_FORM_IN_CLEAR, MUTATIONS, contract_breaches, page_answer,
                                  query_parameter_breaches, refused_form_problem)
from tests.services.directory.conftest import ORG_A, make_app


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_route_keeps_the_error_contract(database_url, tmp_path, mutation):
    breaches = contract_breaches(make_app(database_url, tmp_path), str(ORG_A), mutation)
    assert not breaches, "\n".join(breaches)


def test_every_documented_query_parameter_at_its_extremes_keeps_the_error_contract(database_url, tmp_path):
    breaches = query_parameter_breaches(make_app(database_url, tmp_path), str(ORG_A))
    assert not breaches, "\n".join(breaches)


def test_a_page_form_it_refuses_is_problem_json_to_a_program_asking_for_json(database_url, tmp_path):
    """A program posting a page's form (asking for JSON) was handed the refused form, in HTML: it gets the
    page's status as problem+json, each message pointing at its field; a browser still gets the form again."""
    app = make_app(database_url, tmp_path)
    program = page_answer(app, str(ORG_A), "alliance_admin", "POST", "/audit", data=AUDIT_FORM_IN_CLEAR)
    problem = refused_form_problem(program, 400)
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("form", "/record")]
    browser = page_answer(app, str(ORG_A), "alliance_admin", "POST", "/audit", data=AUDIT_FORM_IN_CLEAR,
                          accept="text/html")
    assert browser.status_code == 400 and browser.mimetype == "text/html"
    assert 'href="#record"' in browser.get_data(as_text=True)


def test_a_search_the_find_page_refuses_names_its_field_to_a_program(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    program = page_answer(app, str(ORG_A), None, "GET", "/find?q=work&within=12345")
    problem = refused_form_problem(program, 400)
    assert ("query", "/within") in [(e["location"], e["pointer"]) for e in problem["errors"]], problem
