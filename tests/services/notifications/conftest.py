"""Fixtures: see support.py."""

from tests.services.notifications.support import (app, clock, notifications_db, smtp_server,  # noqa: F401
                                                  sqlite_db, token, webhook_receiver)
