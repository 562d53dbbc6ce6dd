"""`worklink referrals ...` (also `worklink-referrals`): the referrals service's own commands."""

from __future__ import annotations

import click

from worklink.config import Settings
from worklink.db import Database


@click.group()
def main() -> None:
    """The referrals service's own commands (database from REFERRALS_DATABASE_URL / WORKLINK_VAR)."""


@main.command("rekey-people")
def rekey_people_command() -> None:
    """After REFERRALS_PERSON_KEY is rotated (the old key in REFERRALS_PERSON_KEY_PREVIOUS): rewrite the
    referrals' match keys under the new key now, rather than at the clock job's next pass."""
    from worklink_referrals.config import ReferralSettings
    from worklink_referrals.rekeying import rekey_people

    referral_settings = ReferralSettings.from_env()
    if not referral_settings.previous_person_keys:
        raise click.ClickException("REFERRALS_PERSON_KEY_PREVIOUS is not set: there is no retired key to re-key from")
    database = Database(Settings.from_env("referrals").database_url)
    try:
        changed = rekey_people(database, referral_settings.person_key, referral_settings.previous_person_keys)
    finally:
        database.dispose()
    click.echo(f"re-keyed {changed} referrals; drop REFERRALS_PERSON_KEY_PREVIOUS once every process has the "
               "new key and a clock pass has found nothing left to re-key")
