"""One helper gives a stored moment its zone (SQLite reads one back without it): routing, delivery, the webhook
secrets, subscribers and the shared pause use utc.as_utc, none its own copy (routing and webhook_secrets each had
one, as delivery could not be imported from routing); the pages show moments through worklink.uktime.uk_moment."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from worklink_notifications import delivery, pause, routing, subscribers, utc, webhook_secrets


def test_every_module_uses_the_one_helper():
    for module in (routing, delivery, webhook_secrets, subscribers, pause):
        assert module.as_utc is utc.as_utc, module.__name__
        assert not hasattr(module, "_aware") and not hasattr(module, "_utc"), module.__name__


def test_a_moment_without_a_zone_is_read_as_utc_and_one_with_a_zone_is_kept():
    assert utc.as_utc(datetime(2026, 7, 1, 12, 0)) == datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
    summer = datetime(2026, 7, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert utc.as_utc(summer) is summer
