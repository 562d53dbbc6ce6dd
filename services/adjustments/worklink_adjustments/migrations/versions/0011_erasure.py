"""records retention and erasure: suggestions.erased_at, and the patient's details may be erased

An erased suggestion keeps its ids, codes and dates; its NHS number, name, birth date and the issuer's
typed name become null (worklink_adjustments.rights.erase).

Revision ID: adjustments_0011
Revises: adjustments_0010
Create Date: 2026-11-26 12:17:06
"""
from alembic import op
import sqlalchemy as sa


revision = "adjustments_0011"
down_revision = "adjustments_0010"
branch_labels = None
depends_on = None

ERASABLE = (("nhs_number", sa.String(length=10)), ("given_name", sa.String(length=100)),
            ("family_name", sa.String(length=100)), ("birth_date", sa.Date()), ("issuer_name", sa.String(length=200)))


def upgrade() -> None:
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        for name, type_ in ERASABLE:
            batch_op.alter_column(name, existing_type=type_, nullable=True)


def downgrade() -> None:
    # An erased patient's details cannot come back, and inventing some would be worse: refuse.
    erased = op.get_bind().scalar(sa.text("SELECT count(*) FROM suggestions WHERE erased_at IS NOT NULL"))
    if erased:
        raise RuntimeError(f"{erased} suggestions have had the patient's details erased; the columns cannot be "
                           "made required again. Downgrading below adjustments_0011 is not possible.")
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        for name, type_ in reversed(ERASABLE):
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        batch_op.drop_column("erased_at")
