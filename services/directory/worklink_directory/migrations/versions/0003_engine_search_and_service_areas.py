"""full-text search in the database's own engine (FTS5 / tsvector); ORUK service areas

Revision ID: directory_0003
Revises: directory_0002
Create Date: 2026-11-25 17:25:00
"""
from alembic import op
import sqlalchemy as sa

from worklink_directory import search

revision = "directory_0003"
down_revision = "directory_0002"
branch_labels = None
depends_on = None


def _index(bind) -> search.SearchIndex:
    return search.PostgresIndex() if bind.dialect.name == "postgresql" else search.SqliteIndex()


def upgrade() -> None:
    op.create_table(
        "search_document",
        sa.Column("key", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"], name=op.f("fk_search_document_service_id_service"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_search_document")),
        sa.UniqueConstraint("service_id", name=op.f("uq_search_document_service_id")),
    )
    op.create_table(
        "service_area",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("extent", sa.Text(), nullable=True),
        sa.Column("extent_type", sa.String(length=16), nullable=True),
        sa.Column("uri", sa.String(length=500), nullable=True),
        sa.Column("postcode_districts", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"], name=op.f("fk_service_area_service_id_service"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_area")),
    )
    op.create_index(op.f("ix_service_area_service_id"), "service_area", ["service_id"], unique=False)
    bind = op.get_bind()
    index = _index(bind)
    for statement in (index.CREATE if isinstance(index.CREATE, tuple) else (index.CREATE,)):
        op.execute(statement)
    search.index_every_service(bind)  # the services already listed stay findable
    op.drop_index("ix_search_token_service_id", table_name="search_token")
    op.drop_table("search_token")


def downgrade() -> None:
    op.create_table(
        "search_token",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["service.id"], name="fk_search_token_service_id_service",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token", "service_id", name="pk_search_token"),
    )
    op.create_index("ix_search_token_service_id", "search_token", ["service_id"], unique=False)
    op.execute(_index(op.get_bind()).DROP)
    op.drop_index(op.f("ix_service_area_service_id"), table_name="service_area")
    op.drop_table("service_area")
    op.drop_table("search_document")
