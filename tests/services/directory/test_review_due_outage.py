"""The review-due job catches up after a database outage: a run that met the database away is tried again
within seconds once it is back, not at the next hourly run (worklink.workers.run_periodically).

The database is the real PostgreSQL behind a TCP proxy the test cuts (tests/platform/tcp_proxy.py): the
server itself is everyone's and is never stopped."""

from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from tests.platform.support import wait_for
from tests.platform.tcp_proxy import proxied
from tests.services.directory.conftest import build_directory, make_app
from tests.services.directory.test_partner_pages import outbox
from worklink.config import Settings
from worklink_directory import jobs
from worklink_directory.models import Service

pytestmark = pytest.mark.timeout(120)


def test_the_review_due_job_catches_up_within_seconds_of_the_database_coming_back(postgres_url, tmp_path):
    app = make_app(postgres_url, tmp_path)
    lapsed = build_directory(app).ids["cafe"]
    with app.extensions["worklink"].database.transaction() as session:
        session.execute(sa.update(Service).where(Service.id == uuid.UUID(lapsed)).values(assured_date=date(2020, 1, 1)))

    def review_due_announced() -> bool:
        return any(kind == "directory.service.review_due" and aggregate == lapsed
                   for kind, aggregate, _ in outbox(app))

    with proxied(postgres_url) as (proxy, url):
        settings = Settings.from_env("directory", {"WORKLINK_VAR": str(tmp_path), "DIRECTORY_DATABASE_URL": url,
                                                   "WORKLINK_ENV": "test"})
        stop = threading.Event()
        proxy.cut()  # the hourly run starts while the database is away...
        job = threading.Thread(target=jobs.review_due, args=(settings, stop), daemon=True)
        job.start()
        try:
            threading.Timer(1.0, proxy.restore).start()  # ...which is back a second later
            wait_for(review_due_announced, 30, "the lapsed listing announced after the outage")
        finally:
            stop.set()
            job.join(30)
