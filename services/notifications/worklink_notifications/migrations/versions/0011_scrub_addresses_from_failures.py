"""scrub addresses from failures: e-mail addresses in recorded failure text (a mail server's refusal
repeats the recipient's) become <address>, as delivery.describe now records them

Revision ID: notifications_0011
Revises: notifications_0010
Create Date: 2026-11-26 05:05:00
"""
import re

from alembic import op
import sqlalchemy as sa


revision = "notifications_0011"
down_revision = "notifications_0010"
branch_labels = None
depends_on = None

# The same pattern as worklink_notifications.delivery.ADDRESS (a migration keeps its own copy).
ADDRESS = re.compile(r"[^\s<>'\"(),;:]+@[^\s<>'\"(),;:]+")


def _scrub(table: str, key: str, column: str) -> None:
    rows = op.get_bind().execute(sa.text(f"SELECT {key}, {column} FROM {table} WHERE {column} LIKE '%@%'")).all()
    for row_id, text in rows:
        op.get_bind().execute(sa.text(f"UPDATE {table} SET {column} = :text WHERE {key} = :id"),
                              {"text": ADDRESS.sub("<address>", text), "id": row_id})


def upgrade() -> None:
    _scrub("delivery", "id", "last_error")
    _scrub("delivery_attempt", "id", "detail")


def downgrade() -> None:
    pass  # erased on purpose
