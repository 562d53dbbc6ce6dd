"""web sessions: the pages' signed-in sessions (worklink.web.sessions), so a signed-out or idle
session is refused in every worker and process

Revision ID: directory_0012
Revises: directory_0011
Create Date: 2026-11-26 12:17:56.343566
"""
from alembic import op
import sqlalchemy as sa


revision = "directory_0012"
down_revision = "directory_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_subject'), ['subject'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_token_expires_at'), ['token_expires_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_token_expires_at'))
        batch_op.drop_index(batch_op.f('ix_web_sessions_subject'))

    op.drop_table('web_sessions')
