"""One review period (DIRECTORY_REVIEW_PERIOD_DAYS) for the review-due job, the CLI and the pages' flags."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.services.directory.conftest import ORG_A, build_directory, make_app
from tests.services.directory.test_partner_pages import outbox, signed_in
from worklink.uktime import uk_today
from worklink_directory import jobs
from worklink_directory.cli import main as directory_cli
from worklink_directory.models import Service


class OneRound(threading.Event):
    """A stop event that lets a periodic job run exactly once."""

    def __init__(self):
        super().__init__()
        self.rounds = 0

    def is_set(self) -> bool:
        self.rounds += 1
        return self.rounds > 1

    def wait(self, timeout=None) -> bool:
        return True


def review_due_ids(app) -> set[str]:
    return {aggregate for kind, aggregate, _ in outbox(app) if kind == "directory.service.review_due"}


def test_a_configured_period_flags_listings_in_the_job_the_cli_and_the_pages(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DIRECTORY_REVIEW_PERIOD_DAYS", "7")
    monkeypatch.setenv("DIRECTORY_DATABASE_URL", sqlite_url)
    app = make_app(sqlite_url, tmp_path)
    known = build_directory(app)
    with app.extensions["worklink"].database.transaction() as session:
        for svc in session.scalars(sa.select(Service)):
            svc.assured_date = uk_today() - timedelta(days=3)
        session.get(Service, uuid.UUID(known.ids["cafe"])).assured_date = uk_today() - timedelta(days=10)

    # the pages flag the cafe (10 days > 7), not the counselling service (3 days)
    client = app.test_client()
    assert "(due for review)" in client.get(f"/find/services/{known.ids['cafe']}").get_data(as_text=True)
    assert "(due for review)" not in client.get(f"/find/services/{known.ids['counselling']}").get_data(as_text=True)
    rows = signed_in(app, "org_admin", ORG_A).get("/partner").get_data(as_text=True).split("<tr")
    flagged = [row for row in rows if "Review due" in row]
    assert len(flagged) == 1 and "Wellbeing cafe, Taunton" in flagged[0]

    # so does the hourly job, and the CLI without --days; each listing is told once
    jobs.review_due(app.extensions["worklink"].settings, OneRound())
    assert review_due_ids(app) == {known.ids["cafe"]}
    with app.extensions["worklink"].database.transaction() as session:
        session.get(Service, uuid.UUID(known.ids["debt"])).assured_date = uk_today() - timedelta(days=8)
    result = CliRunner().invoke(directory_cli, ["review-due"])
    assert result.exit_code == 0 and "1 listings flagged" in result.output, result.output
    assert review_due_ids(app) == {known.ids["cafe"], known.ids["debt"]}


def test_a_review_period_that_is_not_a_number_of_days_stops_the_app(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DIRECTORY_REVIEW_PERIOD_DAYS", "three months")
    with pytest.raises(ValueError, match="DIRECTORY_REVIEW_PERIOD_DAYS"):
        make_app(sqlite_url, tmp_path)


def test_a_new_listing_is_due_for_review_a_period_after_it_was_listed_not_at_once(database_url, tmp_path):
    from datetime import datetime, timezone

    from worklink_directory import demo, services
    from worklink_directory.importer import import_records
    from tests.services.directory.conftest import GEOCODER

    app = make_app(database_url, tmp_path)
    known = build_directory(app)  # created through the write API just now, never assured
    ctx = app.extensions["worklink"]
    imported = next(iter(demo.demo_records()))
    imported.pop("assured_date"), imported.pop("assurer_email", None)  # never assured: counted from the import
    assert import_records(ctx.database, ctx.outbox, [imported], GEOCODER).created == 1
    listings = {*known.ids.values(), imported["id"]}
    client = app.test_client()

    def flag(now: datetime) -> set[str]:
        with ctx.database.transaction() as session:
            services.flag_review_due(session, ctx.outbox, now=now)
        return review_due_ids(app)

    now = datetime.now(timezone.utc)
    assert flag(now) == set()
    assert "(due for review)" not in client.get(f"/find/services/{known.ids['cafe']}").get_data(as_text=True)
    assert "Review due" not in signed_in(app, "org_admin", ORG_A).get("/partner").get_data(as_text=True)
    assert flag(now + services.DEFAULT_REVIEW_PERIOD) == set()  # the last day of the period
    assert flag(now + services.DEFAULT_REVIEW_PERIOD + timedelta(days=1)) == listings
    due_since = {payload["data"]["due_since"][:10] for kind, _, payload in outbox(app) if kind == "directory.service.review_due"}
    assert due_since == {str(uk_today(now) + services.DEFAULT_REVIEW_PERIOD)}  # the UK day listed, not UTC's
