"""Every adjustments route keeps the error contract (tests/error_contract.py) whatever it is sent, on SQLite and
PostgreSQL: never a 500, problem+json to programs, an error page to people."""

from __future__ import annotations

import pytest

from tests.error_contract import MUTATIONS, contract_breaches, query_parameter_breaches
from tests.services.adjustments.conftest import PRACTICE, build_app, make_settings


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_route_keeps_the_error_contract(database_url, tmp_path, mutation):
    breaches = contract_breaches(build_app(make_settings(tmp_path, database_url)), str(PRACTICE), mutation)
    assert not breaches, "\n".join(breaches)


def test_every_documented_query_parameter_at_its_extremes_keeps_the_error_contract(database_url, tmp_path):
    breaches = query_parameter_breaches(build_app(make_settings(tmp_path, database_url)), str(PRACTICE))
    assert not breaches, "\n".join(breaches)
