"""Every referrals route keeps the error contract (tests/error_contract.py) whatever it is sent, on SQLite and
PostgreSQL: never a 500, problem+json to programs, an error page to people."""

from __future__ import annotations

import pytest

from tests.error_contract import (AUDIT_FORM_IN_CLEAR, MUTATIONS, contract_breaches, page_answer,
                                  query_parameter_breaches, refused_form_problem)
from tests.services.referrals.conftest import ADVISERS


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_route_keeps_the_error_contract(make_harness, database_url, mutation):
    app = make_harness(database_url).app
    breaches = contract_breaches(app, ADVISERS, mutation)
    assert not breaches, "\n".join(breaches)


def test_every_documented_query_parameter_at_its_extremes_keeps_the_error_contract(make_harness, database_url):
    breaches = query_parameter_breaches(make_harness(database_url).app, ADVISERS)
    assert not breaches, "\n".join(breaches)


def test_a_page_form_it_refuses_is_problem_json_to_a_program_asking_for_json(make_harness, database_url):
    """A program posting a page's form (asking for JSON) was handed the refused form, in HTML: it gets the
    page's status as problem+json, each message pointing at its field; a browser still gets the form again."""
    app = make_harness(database_url).app
    program = page_answer(app, ADVISERS, "alliance_admin", "POST", "/audit", data=AUDIT_FORM_IN_CLEAR)
    problem = refused_form_problem(program, 400)
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("form", "/record")]
    browser = page_answer(app, ADVISERS, "alliance_admin", "POST", "/audit", data=AUDIT_FORM_IN_CLEAR,
                          accept="text/html")
    assert browser.status_code == 400 and browser.mimetype == "text/html"
    assert 'href="#record"' in browser.get_data(as_text=True)


def test_the_self_referral_form_refused_names_each_field_to_a_program(make_harness, database_url):
    app = make_harness(database_url).app
    program = page_answer(app, ADVISERS, None, "POST", "/refer-yourself", data={"given_name": "Sam"})
    problem = refused_form_problem(program, 422)
    pointers = {e["pointer"] for e in problem["errors"]}
    assert {"/family_name", "/email"} <= pointers and "/given_name" not in pointers, problem["errors"]
    assert {e["location"] for e in problem["errors"]} == {"form"}
