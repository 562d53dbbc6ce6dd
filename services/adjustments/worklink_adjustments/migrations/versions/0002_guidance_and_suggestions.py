"""Guidance knowledge base, suggestions, employer links and responses, referral requests.

Revision ID: adjustments_0002
Revises: adjustments_0001
"""
from alembic import op
import sqlalchemy as sa


revision = 'adjustments_0002'
down_revision = 'adjustments_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('adjustments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('employer_text', sa.String(length=1000), nullable=False),
    sa.Column('fit_note_category', sa.String(length=32), nullable=False),
    sa.Column('equality_act_requirement', sa.String(length=40), nullable=False),
    sa.Column('adjustment_area', sa.String(length=40), nullable=False),
    sa.Column('cost_band', sa.String(length=16), nullable=False),
    sa.Column('access_to_work', sa.Boolean(), nullable=False),
    sa.Column('access_to_work_element', sa.String(length=40), nullable=True),
    sa.Column('duration_type', sa.String(length=16), nullable=False),
    sa.Column('home_working_compatible', sa.Boolean(), nullable=False),
    sa.Column('review_status', sa.String(length=24), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('updated_in_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjustments'))
    )
    op.create_table('conditions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('synonyms', sa.JSON(), nullable=False),
    sa.Column('limitation_ids', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conditions'))
    )
    op.create_table('functional_limitations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('domain', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('icf_codes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_functional_limitations'))
    )
    op.create_table('guidance_sources',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('publisher', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guidance_sources'))
    )
    op.create_table('guidance_versions',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=255), nullable=False),
    sa.Column('change', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_guidance_versions'))
    )
    op.create_table('suggestions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('practice_id', sa.Uuid(), nullable=False),
    sa.Column('clinician_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('guidance_version', sa.Integer(), nullable=False),
    sa.Column('nhs_number', sa.String(length=10), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('postcode', sa.String(length=8), nullable=True),
    sa.Column('issuer_name', sa.String(length=200), nullable=False),
    sa.Column('issuer_profession', sa.String(length=32), nullable=False),
    sa.Column('assessment_date', sa.Date(), nullable=False),
    sa.Column('assessment_method', sa.String(length=16), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('condition_started_on', sa.Date(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('functional_effects', sa.Text(), nullable=False),
    sa.Column('recommendations', sa.JSON(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('reassessment_needed', sa.Boolean(), nullable=False),
    sa.Column('review_date', sa.Date(), nullable=True),
    sa.Column('job', sa.JSON(), nullable=False),
    sa.Column('occupational_health_suggested', sa.Boolean(), nullable=False),
    sa.Column('access_to_work_signposted', sa.Boolean(), nullable=False),
    sa.Column('share_with_employer', sa.Boolean(), nullable=False),
    sa.Column('refer_to_employment_adviser', sa.Boolean(), nullable=False),
    sa.Column('consent_recorded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('supersedes_id', sa.Uuid(), nullable=True),
    sa.Column('withdrawn_reason', sa.String(length=40), nullable=True),
    sa.Column('review_due_notified_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['supersedes_id'], ['suggestions.id'], name=op.f('fk_suggestions_supersedes_id_suggestions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suggestions'))
    )
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggestions_nhs_number'), ['nhs_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggestions_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index('ix_suggestions_status_period_end', ['status', 'period_end'], unique=False)

    op.create_table('work_functions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('onet_element_id', sa.String(length=32), nullable=True),
    sa.Column('examples', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_functions'))
    )
    op.create_table('employer_links',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('suggestion_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.id'], name=op.f('fk_employer_links_suggestion_id_suggestions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employer_links')),
    sa.UniqueConstraint('suggestion_id', name=op.f('uq_employer_links_suggestion_id'))
    )
    op.create_table('employer_responses',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('suggestion_id', sa.Uuid(), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('comments', sa.Text(), nullable=False),
    sa.Column('responder_name', sa.String(length=200), nullable=False),
    sa.Column('responder_role', sa.String(length=200), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.id'], name=op.f('fk_employer_responses_suggestion_id_suggestions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employer_responses')),
    sa.UniqueConstraint('suggestion_id', name=op.f('uq_employer_responses_suggestion_id'))
    )
    op.create_table('guidance_rules',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('limitation_id', sa.String(length=64), nullable=False),
    sa.Column('condition_id', sa.String(length=64), nullable=True),
    sa.Column('work_function_id', sa.String(length=64), nullable=True),
    sa.Column('adjustment_id', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('rationale', sa.String(length=500), nullable=False),
    sa.Column('source_ids', sa.JSON(), nullable=False),
    sa.Column('review_status', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['adjustment_id'], ['adjustments.id'], name=op.f('fk_guidance_rules_adjustment_id_adjustments')),
    sa.ForeignKeyConstraint(['condition_id'], ['conditions.id'], name=op.f('fk_guidance_rules_condition_id_conditions')),
    sa.ForeignKeyConstraint(['limitation_id'], ['functional_limitations.id'], name=op.f('fk_guidance_rules_limitation_id_functional_limitations')),
    sa.ForeignKeyConstraint(['work_function_id'], ['work_functions.id'], name=op.f('fk_guidance_rules_work_function_id_work_functions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guidance_rules'))
    )
    with op.batch_alter_table('guidance_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guidance_rules_adjustment_id'), ['adjustment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guidance_rules_limitation_id'), ['limitation_id'], unique=False)

    op.create_table('phrase_templates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('limitation_id', sa.String(length=64), nullable=True),
    sa.Column('adjustment_id', sa.String(length=64), nullable=True),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['adjustment_id'], ['adjustments.id'], name=op.f('fk_phrase_templates_adjustment_id_adjustments')),
    sa.ForeignKeyConstraint(['limitation_id'], ['functional_limitations.id'], name=op.f('fk_phrase_templates_limitation_id_functional_limitations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phrase_templates'))
    )
    op.create_table('referral_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('suggestion_id', sa.Uuid(), nullable=False),
    sa.Column('practice_id', sa.Uuid(), nullable=False),
    sa.Column('clinician_id', sa.String(length=128), nullable=False),
    sa.Column('consent_id', sa.Uuid(), nullable=False),
    sa.Column('consented_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcomes_to_gp', sa.Boolean(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('referral_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('business_status', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('assigned_org_id', sa.Uuid(), nullable=True),
    sa.Column('service_id', sa.Uuid(), nullable=True),
    sa.Column('referral_version', sa.Integer(), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['suggestion_id'], ['suggestions.id'], name=op.f('fk_referral_requests_suggestion_id_suggestions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_requests'))
    )
    with op.batch_alter_table('referral_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_requests_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referral_requests_suggestion_id'), ['suggestion_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('referral_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_requests_suggestion_id'))
        batch_op.drop_index(batch_op.f('ix_referral_requests_practice_id'))

    op.drop_table('referral_requests')
    op.drop_table('phrase_templates')
    with op.batch_alter_table('guidance_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guidance_rules_limitation_id'))
        batch_op.drop_index(batch_op.f('ix_guidance_rules_adjustment_id'))

    op.drop_table('guidance_rules')
    op.drop_table('employer_responses')
    op.drop_table('employer_links')
    op.drop_table('work_functions')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_index('ix_suggestions_status_period_end')
        batch_op.drop_index(batch_op.f('ix_suggestions_practice_id'))
        batch_op.drop_index(batch_op.f('ix_suggestions_nhs_number'))

    op.drop_table('suggestions')
    op.drop_table('guidance_versions')
    op.drop_table('guidance_sources')
    op.drop_table('functional_limitations')
    op.drop_table('conditions')
    op.drop_table('adjustments')
