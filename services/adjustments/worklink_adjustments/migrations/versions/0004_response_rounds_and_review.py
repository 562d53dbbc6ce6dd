"""Employer response rounds (a fresh link per amendment, every answer kept with the version it
answered) and who clinically reviewed each guidance adjustment and rule.

Revision ID: adjustments_0004
Revises: adjustments_0003
"""
from alembic import op
import sqlalchemy as sa


revision = 'adjustments_0004'
down_revision = 'adjustments_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('adjustments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reviewed_by', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('employer_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('suggestion_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_employer_links_suggestion_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_employer_links_suggestion_id'), ['suggestion_id'], unique=False)

    with op.batch_alter_table('employer_responses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('suggestion_version', sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_employer_responses_suggestion_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_employer_responses_suggestion_id'), ['suggestion_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_employer_responses_link_id'), ['link_id'])
        batch_op.create_foreign_key(batch_op.f('fk_employer_responses_link_id_employer_links'), 'employer_links', ['link_id'], ['id'])

    with op.batch_alter_table('guidance_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reviewed_by', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True))

    # Until now a suggestion had one link and at most one answer: both belong to its current version.
    op.execute("UPDATE employer_links SET suggestion_version = "
               "(SELECT version FROM suggestions WHERE suggestions.id = employer_links.suggestion_id)")
    op.execute("UPDATE employer_responses SET "
               "link_id = (SELECT id FROM employer_links WHERE employer_links.suggestion_id = employer_responses.suggestion_id), "
               "suggestion_version = (SELECT version FROM suggestions WHERE suggestions.id = employer_responses.suggestion_id)")


def downgrade() -> None:
    with op.batch_alter_table('guidance_rules', schema=None) as batch_op:
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by')

    with op.batch_alter_table('employer_responses', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_employer_responses_link_id_employer_links'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_employer_responses_link_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_employer_responses_suggestion_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_employer_responses_suggestion_id'), ['suggestion_id'])
        batch_op.drop_column('suggestion_version')
        batch_op.drop_column('link_id')

    with op.batch_alter_table('employer_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_employer_links_suggestion_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_employer_links_suggestion_id'), ['suggestion_id'])
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('suggestion_version')

    with op.batch_alter_table('adjustments', schema=None) as batch_op:
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by')
