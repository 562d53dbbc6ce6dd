"""erasure: when a referral's person details were erased (retention period over, or the person's erasure
request), and the age band on the day of referral that insights keep once the birth date is gone; the
name and birth date may then be empty

Revision ID: referrals_0011
Revises: referrals_0010
Create Date: 2026-11-26 10:26:02.587707
"""
from alembic import op
import sqlalchemy as sa


revision = "referrals_0011"
down_revision = "referrals_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('age_band', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('given_name', existing_type=sa.VARCHAR(length=100), nullable=True)
        batch_op.alter_column('family_name', existing_type=sa.VARCHAR(length=100), nullable=True)
        batch_op.alter_column('birth_date', existing_type=sa.DATE(), nullable=True)


def downgrade() -> None:
    # An erased person cannot be put back: refuse rather than invent a name and a birth date.
    erased = op.get_bind().execute(sa.text("SELECT count(*) FROM referrals WHERE erased_at IS NOT NULL")).scalar()
    if erased:
        raise RuntimeError(f"{erased} referrals have erased details; referrals_0011 cannot be downgraded")
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.alter_column('birth_date', existing_type=sa.DATE(), nullable=False)
        batch_op.alter_column('family_name', existing_type=sa.VARCHAR(length=100), nullable=False)
        batch_op.alter_column('given_name', existing_type=sa.VARCHAR(length=100), nullable=False)
        batch_op.drop_column('erased_at')
        batch_op.drop_column('age_band')
