"""`worklink directory ...` (also `worklink-directory`): import a directory, flag listings
due for review, export the demo feed."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

import click

from worklink.config import Settings
from worklink.db import Database
from worklink.events.contracts import CATALOGUE
from worklink.messaging.outbox import Outbox
from worklink_directory import demo, services
from worklink_directory.geocode import GeocoderUnavailable, geocoder_from_env
from worklink_directory.importer import import_records, read_source
from worklink_directory.models import PLATFORM


def _database() -> Database:
    return Database(Settings.from_env("directory").database_url)


@click.group()
def main() -> None:
    """The directory service's own commands (database from DIRECTORY_DATABASE_URL / WORKLINK_VAR)."""


@main.command("import")
@click.argument("source")
def import_command(source: str) -> None:
    """Load an ORUK 3.0 feed (URL of the API, or a JSON file) or a CSV file; idempotent."""
    try:
        records = read_source(source)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"Cannot read {source}: {exc}") from None
    database = _database()
    try:
        with click.progressbar(length=len(records), label="Importing", file=sys.stderr) as bar:
            report = import_records(database, Outbox("directory", PLATFORM, CATALOGUE), records,
                                    geocoder_from_env(os.environ), progress=bar.update)
    except GeocoderUnavailable as exc:
        raise click.ClickException(f"{exc} The records loaded so far are kept; run the import again.") from None
    finally:
        database.dispose()
    click.echo(report.summary())
    for ref, reasons in report.rejected:
        click.echo(f"rejected {ref}:")
        for reason in reasons:
            click.echo(f"  {reason}")
    if report.rejected:
        sys.exit(2)


@main.command("review-due")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="review period (default: DIRECTORY_REVIEW_PERIOD_DAYS, or 91 days, ORUK's three months)")
def review_due(days: int | None) -> None:
    """Publish directory.service.review_due for listings not assured within the period (once each)."""
    period = timedelta(days=days) if days else services.review_period(os.environ)
    database = _database()
    with database.transaction() as session:
        count = services.flag_review_due(session, Outbox("directory", PLATFORM, CATALOGUE), period=period)
    database.dispose()
    click.echo(f"{count} listings flagged as due for review")


@main.command("demo-feed")
@click.option("--copies", default=1, show_default=True)
def demo_feed(copies: int) -> None:
    """Print the demo directory as an ORUK 3.0 JSON list (invented data)."""
    json.dump(list(demo.demo_records(copies)), sys.stdout, indent=1)
