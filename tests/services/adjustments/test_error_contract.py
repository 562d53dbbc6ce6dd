"""Every adjustments route keeps the error contract (tests/error_contract.py) whatever it is sent, on SQLite and
PostgreSQL: never a 500, problem+json to programs, an error page to people."""

from __future__ import annotations

import pytest

from tests.error_contract import (AUDIT_FORM_IN_CLEAR, MUTATIONS, contract_breaches, page_answer,
                                  query_parameter_breaches, refused_form_problem)
from tests.services.adjustments.conftest import PRACTICE, build_app, make_settings


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_route_keeps_the_error_contract(database_url, tmp_path, mutation):
    breaches = contract_breaches(build_app(make_settings(tmp_path, database_url)), str(PRACTICE), mutation)
    assert not breaches, "\n".join(breaches)


def test_every_documented_query_parameter_at_its_extremes_keeps_the_error_contract(database_url, tmp_path):
    breaches = query_parameter_breaches(build_app(make_settings(tmp_path, database_url)), str(PRACTICE))
    assert not breaches, "\n".join(breaches)


def test_a_page_form_it_refuses_is_problem_json_to_a_program_asking_for_json(database_url, tmp_path):
    """A program posting a page's form (asking for JSON) was handed the refused form, in HTML: it gets the
    page's status as problem+json, each message pointing at its field; a browser still gets the form again."""
    app = build_app(make_settings(tmp_path, database_url))
    program = page_answer(app, str(PRACTICE), "alliance_admin", "POST", "/audit", data=AUDIT_FORM_IN_CLEAR)
    problem = refused_form_problem(program, 400)
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("form", "/record")]
    browser = page_answer(app, str(PRACTICE), "alliance_admin", "POST", "/audit", data=AUDIT_FORM_IN_CLEAR,
                          accept="text/html")
    assert browser.status_code == 400 and browser.mimetype == "text/html"
    assert 'href="#record"' in browser.get_data(as_text=True)


def test_the_home_pages_nhs_number_refused_is_named_to_a_program(database_url, tmp_path):
    app = build_app(make_settings(tmp_path, database_url))
    program = page_answer(app, str(PRACTICE), "gp", "POST", "/", data={"nhs_number": "123"})
    problem = refused_form_problem(program, 422)
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("form", "/nhs_number")]
