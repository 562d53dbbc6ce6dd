"""routing reach: service areas and terms in child tables, age bounds, (service_id, status) index

The directory's events now carry who a service serves (area codes, age bounds). Areas and
taxonomy terms move out of JSON columns into indexed child tables so routing at intake is
one indexed query; existing rows are carried over.

Revision ID: referrals_0004
Revises: referrals_0003
Create Date: 2026-11-25 17:13:27.697841
"""
import uuid

from alembic import op
import sqlalchemy as sa

revision = "referrals_0004"
down_revision = "referrals_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_service_areas',
    sa.Column('service_id', sa.Uuid(), nullable=False),
    sa.Column('area_code', sa.String(length=4), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['routing_services.service_id'], name=op.f('fk_routing_service_areas_service_id_routing_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'area_code', name=op.f('pk_routing_service_areas'))
    )
    op.create_table('routing_service_terms',
    sa.Column('service_id', sa.Uuid(), nullable=False),
    sa.Column('term_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['service_id'], ['routing_services.service_id'], name=op.f('fk_routing_service_terms_service_id_routing_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('service_id', 'term_id', name=op.f('pk_routing_service_terms'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_service_id'))
        batch_op.create_index('ix_referrals_service_id_status', ['service_id', 'status'], unique=False)

    with op.batch_alter_table('routing_services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('areas_stated', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('minimum_age', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('maximum_age', sa.Integer(), nullable=True))
    _carry_over_json()
    with op.batch_alter_table('routing_services', schema=None) as batch_op:
        batch_op.alter_column('areas_stated', server_default=None)
        batch_op.drop_column('taxonomy_term_ids')
        batch_op.drop_column('areas')


def _carry_over_json() -> None:
    bind = op.get_bind()
    services = sa.table("routing_services", sa.column("service_id", sa.Uuid()), sa.column("areas", sa.JSON()),
                        sa.column("taxonomy_term_ids", sa.JSON()), sa.column("areas_stated", sa.Boolean()))
    areas = sa.table("routing_service_areas", sa.column("service_id", sa.Uuid()), sa.column("area_code", sa.String()))
    terms = sa.table("routing_service_terms", sa.column("service_id", sa.Uuid()), sa.column("term_id", sa.Uuid()))
    for service_id, area_list, term_list in bind.execute(
            sa.select(services.c.service_id, services.c.areas, services.c.taxonomy_term_ids)).all():
        if area_list is not None:
            bind.execute(services.update().where(services.c.service_id == service_id).values(areas_stated=True))
            for code in sorted({str(a).upper() for a in area_list}):
                bind.execute(areas.insert().values(service_id=service_id, area_code=code))
        for term in sorted({str(t) for t in term_list or []}):
            bind.execute(terms.insert().values(service_id=service_id, term_id=uuid.UUID(term)))


def downgrade() -> None:
    with op.batch_alter_table('routing_services', schema=None) as batch_op:
        batch_op.add_column(sa.Column('areas', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('taxonomy_term_ids', sa.JSON(), nullable=False, server_default='[]'))
    _carry_back_to_json()
    with op.batch_alter_table('routing_services', schema=None) as batch_op:  # the default only filled the rows
        batch_op.alter_column('taxonomy_term_ids', existing_type=sa.JSON(), existing_nullable=False,
                              server_default=None)
        batch_op.drop_column('maximum_age')
        batch_op.drop_column('minimum_age')
        batch_op.drop_column('areas_stated')

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_service_id_status')
        batch_op.create_index(batch_op.f('ix_referrals_service_id'), ['service_id'], unique=False)

    op.drop_table('routing_service_terms')
    op.drop_table('routing_service_areas')


def _carry_back_to_json() -> None:
    """The child tables' areas and terms back into the JSON columns, as the code before this revision wrote
    them (no stated area: NULL, which it read as serving anyone), so routing after a downgrade sends referrals
    where it did before. The age bounds have no column to go back to: the directory's next update of each
    service carries them again after a later upgrade."""
    bind = op.get_bind()
    services = sa.table("routing_services", sa.column("service_id", sa.Uuid()), sa.column("areas", sa.JSON()),
                        sa.column("taxonomy_term_ids", sa.JSON()), sa.column("areas_stated", sa.Boolean()))
    areas = sa.table("routing_service_areas", sa.column("service_id", sa.Uuid()), sa.column("area_code", sa.String()))
    terms = sa.table("routing_service_terms", sa.column("service_id", sa.Uuid()), sa.column("term_id", sa.Uuid()))
    served: dict = {}
    for service_id, code in bind.execute(sa.select(areas.c.service_id, areas.c.area_code).order_by(areas.c.area_code)):
        served.setdefault(service_id, []).append(code)
    carried: dict = {}
    for service_id, term in bind.execute(sa.select(terms.c.service_id, terms.c.term_id)):
        carried.setdefault(service_id, []).append(str(term))
    for service_id, stated in bind.execute(sa.select(services.c.service_id, services.c.areas_stated)).all():
        bind.execute(services.update().where(services.c.service_id == service_id).values(
            areas=served.get(service_id, []) if stated else sa.null(),
            taxonomy_term_ids=sorted(carried.get(service_id, []))))
