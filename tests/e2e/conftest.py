"""End-to-end tests reuse each service's own fixtures."""

from tests.services.referrals.conftest import make_harness  # noqa: F401 - a fixture
