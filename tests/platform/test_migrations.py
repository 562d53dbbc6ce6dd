"""Migrations on SQLite change a table's shape by rebuilding it (batch ALTER): rows elsewhere that point
at it must not stop that, and the run must not leave rows pointing at nothing."""

from __future__ import annotations

import sqlite3
import textwrap

import pytest

from worklink.migrations import upgrade

ENV = """
import sqlalchemy as sa
from worklink.migrations import run_migrations
run_migrations(sa.MetaData())
"""

CREATE = """
from alembic import op
import sqlalchemy as sa
revision, down_revision = "r1", None
def upgrade():
    op.create_table("parent", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(20), nullable=False))
    op.create_table("child", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id"), nullable=False))
"""

REBUILD_PARENT = """
from alembic import op
import sqlalchemy as sa
revision, down_revision = "r2", "r1"
def upgrade():
    with op.batch_alter_table("parent") as batch:
        batch.alter_column("name", existing_type=sa.String(20), nullable=True)
"""

ORPHAN_A_CHILD = """
from alembic import op
revision, down_revision = "r3", "r2"
def upgrade():
    op.execute("DELETE FROM parent")
"""


def _migrations(tmp_path, *revisions: str):
    directory = tmp_path / "migrations"
    (directory / "versions").mkdir(parents=True)
    (directory / "env.py").write_text(ENV)
    for i, text in enumerate(revisions, start=1):
        (directory / "versions" / f"r{i}.py").write_text(textwrap.dedent(text))
    return directory


def _one_parent_with_a_child(path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO parent (id, name) VALUES (1, 'p')")
        db.execute("INSERT INTO child (id, parent_id) VALUES (1, 1)")


def test_a_table_rows_point_at_is_rebuilt_on_sqlite(tmp_path):
    """Was: FOREIGN KEY constraint failed on DROP TABLE (referrals' migration 0005 on a database holding
    a referral with its history)."""
    url, path = f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "db.sqlite"
    migrations = _migrations(tmp_path, CREATE, REBUILD_PARENT)
    upgrade(migrations, url, "r1")
    _one_parent_with_a_child(path)
    upgrade(migrations, url)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT parent.name FROM child JOIN parent ON parent.id = child.parent_id"
                          ).fetchall() == [("p",)]
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("r2",)]


def test_a_migration_that_would_leave_rows_pointing_at_nothing_changes_nothing(tmp_path):
    url, path = f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "db.sqlite"
    migrations = _migrations(tmp_path, CREATE, REBUILD_PARENT, ORPHAN_A_CHILD)
    upgrade(migrations, url, "r2")
    _one_parent_with_a_child(path)
    with pytest.raises(RuntimeError, match="pointing at nothing"):
        upgrade(migrations, url)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM parent").fetchone() == (1,)
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("r2",)]
