"""Data migrations of the directory, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

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
        upgrade(SPEC.migrations_dir, database_url)
        with database.sessions() as session:
            rows = {row.id: (row.name, row.description) for row in session.execute(
                sa.select(Organization.id, Organization.name, Organization.description))}
    finally:
        database.dispose()
    assert rows == {blank: ("Unnamed organisation", "Unnamed organisation"),
                    no_description: ("Job Centre Plus", "Job Centre Plus"),
                    fine: ("Citizens Advice", "Free advice.")}
