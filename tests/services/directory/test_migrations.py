"""Data migrations of the directory, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from worklink.db import Database
from worklink.migrations import upgrade
from worklink.service import get_service
from worklink_directory.models import Organization

SPEC = get_service("directory")


def test_organisations_stored_with_blank_names_get_the_importers_placeholders(database_url):
    upgrade(SPEC.migrations_dir, database_url, "directory_0010")
    database = Database(database_url)
    blank, no_description, fine = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        with database.transaction() as session:  # core inserts: only the columns this revision has
            session.execute(sa.insert(Organization.__table__), [
                dict(id=blank, name="  ", description="", is_demo=False),
                dict(id=no_description, name="Job Centre Plus", description=" ", is_demo=False),
                dict(id=fine, name="Citizens Advice", description="Free advice.", is_demo=False)])
        rows = names_after_upgrade(database, database_url)
    finally:
        database.dispose()
    assert rows == {blank: ("Unnamed organisation", "Unnamed organisation"),
                    no_description: ("Job Centre Plus", "Job Centre Plus"),
                    fine: ("Citizens Advice", "Free advice.")}


@pytest.mark.parametrize("made_at", ["directory_0010", "directory_0014"])  # before 0011, and after it had run
def test_names_blank_by_the_write_apis_own_rule_get_the_placeholders_too(database_url, made_at):
    """The write API strips any whitespace (a tab, a new line from a pasted name); 0011's SQL trim() strips spaces
    only, so an organisation named with a tab kept its blank name on both databases (directory_0015)."""
    upgrade(SPEC.migrations_dir, database_url, made_at)
    database = Database(database_url)
    tabbed, newline = uuid.uuid4(), uuid.uuid4()
    try:
        with database.transaction() as session:
            session.execute(sa.insert(Organization.__table__), [
                dict(id=tabbed, name="\t", description=" \r\n", is_demo=False),
                dict(id=newline, name="Remploy\n", description="\n", is_demo=False)])
        rows = names_after_upgrade(database, database_url)
    finally:
        database.dispose()
    assert rows == {tabbed: ("Unnamed organisation", "Unnamed organisation"), newline: ("Remploy\n", "Remploy\n")}


def names_after_upgrade(database: Database, database_url: str) -> dict:
    """Each organisation's (name, description) once the database is upgraded to head."""
    upgrade(SPEC.migrations_dir, database_url)
    with database.sessions() as session:
        return {row.id: (row.name, row.description) for row in session.execute(
            sa.select(Organization.id, Organization.name, Organization.description))}
