"""`worklink adjustments ...` (also `worklink-adjustments`): the adjustments service's own commands."""

from __future__ import annotations

import json

import click

from worklink.config import Settings
from worklink.db import Database
from worklink_adjustments import knowledge


@click.group()
def main() -> None:
    """The adjustments service's own commands (database from ADJUSTMENTS_DATABASE_URL / WORKLINK_VAR)."""


@main.command("review-report")
@click.option("--json", "as_json", is_flag=True, help="the whole report as JSON")
@click.option("--rules/--no-rules", default=False, help="also list every unreviewed rule")
def review_report(as_json: bool, rules: bool) -> None:
    """What in the guidance library is not yet clinically reviewed."""
    database = Database(Settings.from_env("adjustments").database_url)
    try:
        with database.sessions() as session:
            report = knowledge.review_report(session)
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    adjustments, rule_counts = report["adjustments"], report["rules"]
    state = "clinically reviewed" if report["clinically_reviewed"] else "NOT clinically reviewed"
    click.echo(f"Guidance version {report['guidance_version']}: {state}.")
    click.echo(f"  adjustments: {adjustments['unreviewed']} of {adjustments['total']} unreviewed")
    click.echo(f"  rules:       {rule_counts['unreviewed']} of {rule_counts['total']} unreviewed")
    if report["last_review"]:
        click.echo(f"  last review: {report['last_review']['at']} by {report['last_review']['by']}")
    for item in report["unreviewed_adjustments"]:
        click.echo(f"adjustment {item['id']:40} {item['review_status']:10} {item['title']}")
    if rules:
        for item in report["unreviewed_rules"]:
            narrowed = item["condition_id"] or item["work_function_id"] or "-"
            click.echo(f"rule {item['id']:>5} {item['limitation_id']:28} {narrowed:28} -> {item['adjustment_id']}")


@main.command("rekey-audit")
def rekey_audit_command() -> None:
    """After ADJUSTMENTS_PERSON_KEY is rotated (the old key in ADJUSTMENTS_PERSON_KEY_PREVIOUS): rewrite the
    audit trail's patient references under the new key now, rather than at the sweep's next pass."""
    import os

    from worklink_adjustments.config import person_key, previous_person_keys
    from worklink_adjustments.rekeying import rekey_audit

    previous = previous_person_keys(os.environ)
    if not previous:
        raise click.ClickException("ADJUSTMENTS_PERSON_KEY_PREVIOUS is not set: there is no retired key to re-key from")
    database = Database(Settings.from_env("adjustments").database_url)
    try:
        changed = rekey_audit(database, person_key(os.environ), previous)
    finally:
        database.dispose()
    click.echo(f"re-keyed {changed} audit references; drop ADJUSTMENTS_PERSON_KEY_PREVIOUS once every process "
               "has the new key and a sweep has found nothing left to re-key")
