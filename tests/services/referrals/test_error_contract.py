"""Every referrals route keeps the error contract (tests/error_contract.py) whatever it is sent, on SQLite and
PostgreSQL: never a 500, problem+json to programs, an error page to people."""

from __future__ import annotations

import pytest

from tests.error_contract import MUTATIONS, contract_breaches, query_parameter_breaches
from tests.services.referrals.conftest import ADVISERS


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_route_keeps_the_error_contract(make_harness, database_url, mutation):
    app = make_harness(database_url).app
    breaches = contract_breaches(app, ADVISERS, mutation)
    assert not breaches, "\n".join(breaches)


def test_every_documented_query_parameter_at_its_extremes_keeps_the_error_contract(make_harness, database_url):
    breaches = query_parameter_breaches(make_harness(database_url).app, ADVISERS)
    assert not breaches, "\n".join(breaches)
