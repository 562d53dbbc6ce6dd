"""Every referrals route keeps the error contract (tests/error_contract.py) whatever it is sent, on SQLite and
PostgreSQL: never a 500, problem+json to programs, an error page to people."""

from __future__ import annotations

import pytest

from tests.error_contract import MUTATIONS, contract_breaches
from tests.services.referrals.conftest import ADVISERS


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_route_keeps_the_error_contract(make_harness, database_url, mutation):
    app = make_harness(database_url).app
    breaches = contract_breaches(app, ADVISERS, mutation)
    assert not breaches, "\n".join(breaches)
