"""Every notifications route keeps the error contract (tests/error_contract.py) whatever it is sent, on SQLite
and PostgreSQL: never a 500, problem+json to programs, an error page to people."""

from __future__ import annotations

import pytest

from worklink.config import Settings
from worklink.migrations import upgrade

from tests.error_contract import MUTATIONS, contract_breaches
from tests.services.notifications.support import SPEC

ORGANISATION = "00000000-0000-4000-8000-00000000b001"


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_every_route_keeps_the_error_contract(database_url, tmp_path, mutation):
    upgrade(SPEC.migrations_dir, database_url)
    settings = Settings.from_env("notifications", {"WORKLINK_VAR": str(tmp_path), "WORKLINK_ENV": "test",
                                                   "NOTIFICATIONS_DATABASE_URL": database_url})
    breaches = contract_breaches(SPEC.create_app(settings=settings), ORGANISATION, mutation)
    assert not breaches, "\n".join(breaches)
